package main

import (
	"context"
	"flag"
	"fmt"
	"github.com/otos-iot/otos"
	"io"
	"net/http"
	"time"
)

var tokenCommands = []command{
	{"create", "", "Create an admin API token and print it, shown only this once", tokenCreate},
	{"list", "", "List admin API tokens (never the tokens themselves)", func(fs *flag.FlagSet) action {
		return listOf("/api/v1/tokens", defineListing(fs), tokenColumns)
	}},
	{"revoke", "ID", "Revoke an admin API token: it stops working at once",
		byID(http.MethodDelete, "/api/v1/tokens/%s", printToken)},
}

func tokenCreate(fs *flag.FlagSet) action {
	fields := defineFields(fs,
		fieldFlag{"role", "role", "`ROLE`: admin (read and change) or viewer (read only) (required)"},
		fieldFlag{"tenant", "tenant_id", "the tenant `ID` the token acts for (default: your own; for the system administrator, a system token that sees every tenant)"},
		fieldFlag{"name", "name", "token `NAME`, e.g. who uses it"})
	expires := fs.Duration("expires", 0, "the token stops working after this `DURATION`, e.g. 24h (default: never)")
	return func(ctx context.Context, c *cli, _ string) error {
		if err := required(fs, "role"); err != nil {
			return err
		}
		body := map[string]any{}
		for k, v := range fields() {
			body[k] = v
		}
		if given(fs)["expires"] {
			if *expires < time.Second || *expires%time.Second != 0 {
				return usagef("--expires must be whole seconds, at least 1s, e.g. 90s, 24h or 720h")
			}
			body["expires_in_seconds"] = int64(*expires / time.Second)
		}
		return call(ctx, c, http.MethodPost, "/api/v1/tokens", body, printCreatedToken)
	}
}

var tokenColumns = columns[otos.AdminToken]{
	header: []string{"ID", "NAME", "ROLE", "TENANT", "EXPIRES", "REVOKED", "CREATED"},
	row: func(t *otos.AdminToken) []string {
		return []string{t.ID, t.Name, string(t.Role), tokenTenant(t), timestamp(t.ExpiresAt),
			timestamp(t.RevokedAt), timestamp(&t.CreatedAt)}
	},
}

// tokenTenant names a token's tenant, "system" for a system token.
func tokenTenant(t *otos.AdminToken) string {
	if t.TenantID == "" {
		return "system"
	}
	return t.TenantID
}

func printToken(w io.Writer, t *otos.AdminToken) error {
	return printFields(w,
		field{"id", t.ID},
		field{"name", t.Name},
		field{"role", string(t.Role)},
		field{"tenant", tokenTenant(t)},
		field{"created", timestamp(&t.CreatedAt)},
		field{"expires", timestamp(t.ExpiresAt)},
		field{"revoked", timestamp(t.RevokedAt)})
}

// printCreatedToken prints the new token's fields, then the token itself set
// apart, with the warning that it cannot be shown again.
func printCreatedToken(w io.Writer, t *otos.AdminToken) error {
	if err := printToken(w, t); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, `
Admin token, shown only this once: store it now with whoever uses it.

    %s

The otos command line takes it from OTOS_TOKEN (or --token); other clients send
it as "Authorization: Bearer <token>". Revoke it with: otos token revoke %s
`, orDash(t.Token), orDash(t.ID))
	return err
}
