package main

import (
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/otos-iot/otos"
	otoshttp "github.com/otos-iot/otos/http"
)

var templateCommands = []command{
	{"create", "", "Create a device template and print its secret, shown only this once", templateCreate},
	{"list", "", "List device templates", func(fs *flag.FlagSet) action {
		return listOf("/api/v1/templates", defineListing(fs), templateColumns)
	}},
	{"show", "ID", "Show a device template (never its secret)", byID(http.MethodGet, "/api/v1/templates/%s", printTemplate)},
	{"update", "ID", "Change a template's name or registration settings; only the flags given change", templateUpdate},
	{"rotate-secret", "ID", "Give a template a new secret; the previous one keeps working for --grace", templateRotate},
	{"allowlist add", "ID", "Put device numbers (--file: CSV or one a line) on a template's allow-list", allowlistAdd},
	{"rotate-vouchers", "ID", "Ask every device of a template to rotate its voucher (--deadline: the current vouchers expire then)", rotationRequest("template_id")},
}

var productCommands = []command{
	{"create", "", "Create a product bound to a template, with a product key", productCreate},
	{"list", "", "List products", func(fs *flag.FlagSet) action {
		l := defineListing(fs, fieldFlag{"template", "template_id", "only the products of this template `ID`"})
		return listOf("/api/v1/products", l, productColumns)
	}},
	{"show", "ID", "Show a product", byID(http.MethodGet, "/api/v1/products/%s", printProduct)},
}

// registrationFlags are the template settings that create and update share.
var registrationFlags = []fieldFlag{
	{"registration", "registration", "whether devices may register themselves: `auto|off|allowlist`"},
	{"reregistration", "reregistration", "how a repeated registration is answered: `until_connected|never|hardware` (hardware: also a factory-reset device proving the hardware id it registered with)"},
	{"auth-mode", "auth_mode", "how devices prove the secret: `any|signed` (signed: the secret never travels)"},
	{"max-devices", "max_devices", "the most devices the template may create: a `NUMBER`, 0 for no cap"},
	{"rate-limit", "rate_limit", "registrations a second through the template: a `NUMBER`, 0 for none"},
	{"clone-action", "clone_action", "what a suspected clone (one voucher connecting by turns from different addresses) leads to: `none|disable`"},
	{"rotation-overlap", "rotation_overlap_seconds", "how long a voucher replaced by a rotation keeps working, unless the new one is used sooner: a `DURATION` like 24h or 7d (default 24h)"},
	{"voucher-lifetime", "voucher_lifetime_seconds", "how long a voucher is valid after it is issued: a `DURATION` like 90d, or 0 for ever (default)"},
	{"sub-templates", "sub_device_templates", "of a gateway template, the sub-device template `IDS` (comma-separated, \"\" for none) under which its gateways register sub-devices themselves"},
}

// numberFields are the template fields sent as JSON numbers.
var numberFields = []string{"max_devices", "rate_limit"}

// templateBody turns the given flags into a request body, with numbers as
// numbers.
func templateBody(fields map[string]string) (map[string]any, error) {
	body := make(map[string]any, len(fields))
	for k, v := range fields {
		body[k] = v
	}
	if v, ok := fields["sub_device_templates"]; ok {
		ids := []string{}
		for _, id := range strings.Split(v, ",") {
			if id = strings.TrimSpace(id); id != "" {
				ids = append(ids, id)
			}
		}
		body["sub_device_templates"] = ids
	}
	for _, k := range []string{"rotation_overlap_seconds", "voucher_lifetime_seconds"} {
		if v, ok := fields[k]; ok {
			d, err := otos.ParseDuration(v)
			if v == "0" {
				d, err = 0, nil
			}
			if err != nil || d < 0 || d%time.Second != 0 {
				return nil, usagef("--%s must be a duration like 36h or 7d, got %q", flagOf(k), v)
			}
			body[k] = int64(d / time.Second)
		}
	}
	for _, k := range numberFields {
		if v, ok := fields[k]; ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				return nil, usagef("--%s must be a whole number, got %q", strings.ReplaceAll(k, "_", "-"), v)
			}
			body[k] = n
		}
	}
	return body, nil
}

func templateCreate(fs *flag.FlagSet) action {
	fields := defineFields(fs, append([]fieldFlag{
		{"name", "name", "template `NAME` (required)"},
		{"type", "device_type", "device `TYPE`: direct, gateway or sub_device (required)"},
		{"voucher", "voucher_type", "`VOUCHER` type: BASIC (default) or ACCESSTOKEN"},
		tenantFlag,
	}, registrationFlags...)...)
	return func(ctx context.Context, c *cli, _ string) error {
		if err := required(fs, "name", "type"); err != nil {
			return err
		}
		body, err := templateBody(fields())
		if err != nil {
			return err
		}
		return call(ctx, c, http.MethodPost, "/api/v1/templates", body, printCreatedTemplate)
	}
}

func templateUpdate(fs *flag.FlagSet) action {
	fields := defineFields(fs, append([]fieldFlag{{"name", "name", "new template `NAME`"}}, registrationFlags...)...)
	return func(ctx context.Context, c *cli, id string) error {
		body, err := templateBody(fields())
		if err != nil {
			return err
		}
		if len(body) == 0 {
			return usagef("nothing to change: give --name, --registration, --reregistration, --auth-mode, --max-devices, --rate-limit, --sub-templates, --clone-action, --rotation-overlap or --voucher-lifetime")
		}
		return call(ctx, c, http.MethodPatch, idPath("/api/v1/templates/%s", id), body, printTemplate)
	}
}

func templateRotate(fs *flag.FlagSet) action {
	grace := fs.Duration("grace", 0, "how long the previous secret keeps working: a `DURATION` like 1h or 0s (default: the server's, 24h)")
	return func(ctx context.Context, c *cli, id string) error {
		var body any
		if given(fs)["grace"] {
			if *grace < 0 || *grace%time.Second != 0 {
				return usagef("--grace must be zero or more whole seconds, e.g. 0s, 90s or 1h")
			}
			body = map[string]int64{"grace_seconds": int64(*grace / time.Second)}
		}
		return call(ctx, c, http.MethodPost, idPath("/api/v1/templates/%s/rotate-secret", id), body, printRotated)
	}
}

func productCreate(fs *flag.FlagSet) action {
	fields := defineFields(fs,
		fieldFlag{"name", "name", "product `NAME` (required)"},
		fieldFlag{"template", "template_id", "the template `ID` of the product's devices (required)"})
	return func(ctx context.Context, c *cli, _ string) error {
		if err := required(fs, "name", "template"); err != nil {
			return err
		}
		return call(ctx, c, http.MethodPost, "/api/v1/products", fields(), printProduct)
	}
}

// byID is the setup of a command that sends method to path, its %s the
// command's ID, without a body, and prints the answer with print.
func byID[T any](method, path string, print printer[T]) func(*flag.FlagSet) action {
	return func(*flag.FlagSet) action {
		return func(ctx context.Context, c *cli, id string) error {
			return call(ctx, c, method, idPath(path, id), nil, print)
		}
	}
}

// listOf is the action of a list command.
func listOf[T any](path string, l *listing, cols columns[T]) action {
	return func(ctx context.Context, c *cli, _ string) error {
		return list(ctx, c, path, l, cols)
	}
}

// idPath puts id, escaped, into path.
func idPath(path, id string) string {
	return fmt.Sprintf(path, url.PathEscape(id))
}

var templateColumns = columns[otos.Template]{
	header: []string{"ID", "NAME", "TYPE", "VOUCHER", "REGISTRATION", "REREGISTRATION", "CREATED"},
	row: func(t *otos.Template) []string {
		return []string{t.ID, t.Name, string(t.DeviceType), string(t.VoucherType),
			string(t.Registration), string(t.Reregistration), timestamp(&t.CreatedAt)}
	},
}

var productColumns = columns[otos.Product]{
	header: []string{"ID", "NAME", "TEMPLATE", "PRODUCT KEY", "CREATED"},
	row: func(p *otos.Product) []string {
		return []string{p.ID, p.Name, p.TemplateID, p.ProductKey, timestamp(&p.CreatedAt)}
	},
}

func templateFields(t *otos.Template) []field {
	return []field{
		{"id", t.ID},
		{"name", t.Name},
		{"device type", string(t.DeviceType)},
		{"voucher type", string(t.VoucherType)},
		{"registration", string(t.Registration)},
		{"reregistration", string(t.Reregistration)},
		{"auth mode", string(t.AuthMode)},
		{"max devices", limitText(t.MaxDevices, "no cap")},
		{"rate limit", limitText(t.RateLimit, "none")},
		{"devices", strconv.Itoa(t.DeviceCount)},
		{"tenant", t.TenantID},
		{"sub-device templates", orDash(strings.Join(t.SubTemplates, ", "))},
		{"rotation overlap", seconds(t.RotationOverlap, "-")},
		{"voucher lifetime", seconds(t.VoucherLifetime, "for ever")},
		{"created", timestamp(&t.CreatedAt)},
		{"updated", timestamp(&t.UpdatedAt)},
	}
}

func printTemplate(w io.Writer, t *otos.Template) error {
	return printFields(w, templateFields(t)...)
}

func printCreatedTemplate(w io.Writer, t *otoshttp.TemplateCreated) error {
	if t.Template == nil {
		t.Template = &otos.Template{}
	}
	if err := printFields(w, templateFields(t.Template)...); err != nil {
		return err
	}
	return printSecret(w, "Template secret", t.TemplateSecret)
}

func printRotated(w io.Writer, r *otoshttp.SecretRotated) error {
	err := printFields(w,
		field{"template", r.TemplateID},
		field{"previous secret valid until", timestamp(&r.PreviousUntil)})
	if err != nil {
		return err
	}
	return printSecret(w, "New template secret", r.TemplateSecret)
}

// printSecret prints a template secret set apart from the rest, with the
// warning that it cannot be shown again.
func printSecret(w io.Writer, what, secret string) error {
	_, err := fmt.Fprintf(w, "\n%s, shown only this once: store it now and preset it on the devices of this template.\n\n    %s\n\n",
		what, orDash(secret))
	return err
}

func printProduct(w io.Writer, p *otos.Product) error {
	return printFields(w,
		field{"id", p.ID},
		field{"name", p.Name},
		field{"template", p.TemplateID},
		field{"product key", p.ProductKey},
		field{"tenant", p.TenantID},
		field{"created", timestamp(&p.CreatedAt)})
}

// limitText prints a limit whose zero means none.
func limitText(n int, none string) string {
	if n == 0 {
		return none
	}
	return strconv.Itoa(n)
}

func allowlistAdd(fs *flag.FlagSet) action {
	file := fs.String("file", "", "`FILE` of device numbers: CSV (first column, optional device_number header) or one a line; - for stdin (required)")
	return func(ctx context.Context, c *cli, id string) error {
		if *file == "" {
			return usagef("--file is required")
		}
		numbers, err := readNumbers(*file, os.Stdin)
		if err != nil {
			return err
		}
		return call(ctx, c, http.MethodPost, idPath("/api/v1/templates/%s/allowlist", id),
			map[string][]string{"device_numbers": numbers}, printImported)
	}
}

// readNumbers reads device numbers from the first column of a CSV file.
func readNumbers(path string, stdin io.Reader) ([]string, error) {
	rd := stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		rd = f
	}
	r := csv.NewReader(rd)
	r.FieldsPerRecord, r.TrimLeadingSpace = -1, true
	var numbers []string
	for line := 1; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return numbers, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		n := strings.TrimSpace(rec[0])
		if n == "" || line == 1 && strings.EqualFold(n, "device_number") {
			continue
		}
		numbers = append(numbers, n)
	}
}

func printImported(w io.Writer, r *otoshttp.AllowlistImported) error {
	return printFields(w, field{"template", r.TemplateID}, field{"received", strconv.Itoa(r.Received)},
		field{"added", strconv.Itoa(r.Added)})
}

// flagOf is the flag name of a body field: rotation_overlap_seconds is
// --rotation-overlap.
func flagOf(field string) string {
	return strings.ReplaceAll(strings.TrimSuffix(field, "_seconds"), "_", "-")
}

// seconds shows a number of seconds as a duration, none when it is 0.
func seconds(n int64, none string) string {
	switch {
	case n == 0:
		return none
	case n%86400 == 0:
		return strconv.FormatInt(n/86400, 10) + "d"
	}
	return (time.Duration(n) * time.Second).String()
}
