package main

import (
	"context"
	"flag"
	"fmt"
	"github.com/otos-iot/otos"
	"io"
	"net/http"
)

var serviceAccountCommands = []command{
	{"create", "", "Create an MQTT service account and print its password, shown only this once", serviceAccountCreate},
	{"list", "", "List service accounts (never their passwords)", func(fs *flag.FlagSet) action {
		return listOf("/api/v1/service-accounts", defineListing(fs), serviceAccountColumns)
	}},
	{"revoke", "ID", "Revoke a service account: its password stops working and its MQTT sessions end",
		byID(http.MethodDelete, "/api/v1/service-accounts/%s", printServiceAccount)},
}

func serviceAccountCreate(fs *flag.FlagSet) action {
	fields := defineFields(fs, fieldFlag{"name", "name", "service account `NAME`, e.g. the backend that uses it (required)"},
		tenantFlag)
	return func(ctx context.Context, c *cli, _ string) error {
		if err := required(fs, "name"); err != nil {
			return err
		}
		return call(ctx, c, http.MethodPost, "/api/v1/service-accounts", fields(), printCreatedServiceAccount)
	}
}

var serviceAccountColumns = columns[otos.ServiceAccount]{
	header: []string{"ID", "NAME", "USERNAME", "REVOKED", "CREATED"},
	row: func(a *otos.ServiceAccount) []string {
		return []string{a.ID, a.Name, a.Username, yesNo(a.Revoked), createdAt(a)}
	},
}

func printServiceAccount(w io.Writer, a *otos.ServiceAccount) error {
	return printFields(w,
		field{"id", a.ID},
		field{"name", a.Name},
		field{"username", a.Username},
		field{"revoked", yesNo(a.Revoked)},
		field{"tenant", a.TenantID},
		field{"created", createdAt(a)})
}

// printCreatedServiceAccount prints the new account, then its MQTT
// credential set apart, with the warning that the password cannot be shown
// again and how a backend uses it.
func printCreatedServiceAccount(w io.Writer, a *otos.ServiceAccount) error {
	if err := printServiceAccount(w, a); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, `
MQTT credential; the password is shown only this once: store it now with the backend that uses it.

    username: %s
    password: %s

A platform backend connects to the MQTT broker with this username and password. It
subscribes to otos/%s/# for the uplinks of the tenant's devices,
and publishes to their downlink topics, e.g. devices/command/<device_number>/<id>.
`, orDash(a.Username), orDash(a.Password), orDash(a.TenantID))
	return err
}

// createdAt prints an account's creation time like the other timestamps.
func createdAt(a *otos.ServiceAccount) string {
	return timestamp(&a.CreatedAt)
}
