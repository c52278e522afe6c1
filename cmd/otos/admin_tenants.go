package main

import (
	"context"
	"flag"
	"io"
	"net/http"

	"github.com/otos-iot/otos"
)

var tenantCommands = []command{
	{"create", "", "Create a tenant (system administrator only)", tenantCreate},
	{"list", "", "List tenants (a tenant's token sees its own)", func(fs *flag.FlagSet) action {
		return listOf("/api/v1/tenants", defineListing(fs), tenantColumns)
	}},
	{"show", "ID", "Show a tenant", byID(http.MethodGet, "/api/v1/tenants/%s", printTenant)},
	{"rotate-vouchers", "ID", "Ask every device of a tenant to rotate its voucher (--deadline: the current vouchers expire then)", rotationRequest("tenant_id")},
}

// tenantFlag is the tenant that "template create" and "service-account
// create" create in: the system administrator's choice (default: the
// default tenant); a tenant's token may only name its own.
var tenantFlag = fieldFlag{"tenant", "tenant_id", "create in the tenant with this `ID` (default: your token's tenant; for the system administrator, the default tenant)"}

func tenantCreate(fs *flag.FlagSet) action {
	fields := defineFields(fs, fieldFlag{"name", "name", "tenant `NAME`, e.g. the customer's (required)"})
	return func(ctx context.Context, c *cli, _ string) error {
		if err := required(fs, "name"); err != nil {
			return err
		}
		return call(ctx, c, http.MethodPost, "/api/v1/tenants", fields(), printTenant)
	}
}

var tenantColumns = columns[otos.Tenant]{
	header: []string{"ID", "NAME", "CREATED"},
	row: func(t *otos.Tenant) []string {
		return []string{t.ID, t.Name, timestamp(&t.CreatedAt)}
	},
}

func printTenant(w io.Writer, t *otos.Tenant) error {
	return printFields(w,
		field{"id", t.ID},
		field{"name", t.Name},
		field{"created", timestamp(&t.CreatedAt)})
}
