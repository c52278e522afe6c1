package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	otoshttp "github.com/otos-iot/otos/http"
)

// cli is what an admin action works with: the API client and the output.
type cli struct {
	api  *otoshttp.Client
	json bool // print the API's JSON rather than tables
	out  io.Writer
}

// field is one "key: value" line of a single object.
type field struct{ key, value string }

// printer prints one decoded answer for people.
type printer[T any] func(w io.Writer, v *T) error

// call sends one request and prints the answer: its JSON with --json, else
// print's rendering of it decoded as T.
func call[T any](ctx context.Context, c *cli, method, path string, body any, print printer[T]) error {
	raw, err := c.api.Call(ctx, method, path, nil, body)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(raw)
	}
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		return fmt.Errorf("read the answer of %s %s: %w", method, path, err)
	}
	return print(c.out, &v)
}

// columns render the items of a list as a table.
type columns[T any] struct {
	header []string
	row    func(*T) []string
}

// listing is a list command's paging: --limit, --cursor and --all.
type listing struct {
	all    bool
	fields func() map[string]string
}

// defineListing defines the paging flags and, with them, the filters.
func defineListing(fs *flag.FlagSet, filters ...fieldFlag) *listing {
	l := &listing{}
	l.fields = defineFields(fs, append(filters,
		fieldFlag{"limit", "limit", "`N` items per page (server default 100, at most 1000)"},
		fieldFlag{"cursor", "cursor", "start at `CURSOR`, the next_cursor of a previous page"})...)
	fs.BoolVar(&l.all, "all", false, "follow next_cursor and print every page")
	return l
}

// list prints one page of the list at path (every page with --all) as JSON or
// as a table, with a hint when there are more pages.
func list[T any](ctx context.Context, c *cli, path string, l *listing, cols columns[T]) error {
	page, raw, err := c.fetch(ctx, path, query(l.fields()), l.all)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(raw)
	}
	rows := make([][]string, len(page.Items))
	for i, item := range page.Items {
		var v T
		if err := json.Unmarshal(item, &v); err != nil {
			return fmt.Errorf("read the answer of GET %s: %w", path, err)
		}
		rows[i] = cols.row(&v)
	}
	if err := table(c.out, cols.header, rows); err != nil {
		return err
	}
	if page.NextCursor != "" {
		_, err = fmt.Fprintf(c.out, "next cursor: %s (pass it to --cursor, or use --all)\n", page.NextCursor)
	}
	return err
}

// fetch gets one page, or with all every page joined into one list, and
// returns it decoded and as JSON.
func (c *cli) fetch(ctx context.Context, path string, q url.Values, all bool) (*otoshttp.List[json.RawMessage], json.RawMessage, error) {
	var page otoshttp.List[json.RawMessage]
	var raw json.RawMessage
	var err error
	if all {
		if page.Items, err = c.api.ListAll(ctx, path, q); err != nil {
			return nil, nil, err
		}
		raw, err = json.Marshal(page)
	} else {
		if raw, err = c.api.Call(ctx, http.MethodGet, path, q, nil); err != nil {
			return nil, nil, err
		}
		err = json.Unmarshal(raw, &page)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read the answer of GET %s: %w", path, err)
	}
	return &page, raw, nil
}

// printJSON prints raw indented; nothing when the answer had no body.
func (c *cli) printJSON(raw json.RawMessage) error {
	if len(raw) == 0 {
		return nil
	}
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return err
	}
	b.WriteByte('\n')
	_, err := c.out.Write(b.Bytes())
	return err
}

// printFields prints "key: value" lines with the values aligned.
func printFields(w io.Writer, fields ...field) error {
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
	for _, f := range fields {
		fmt.Fprintf(tw, "%s:\t%s\n", f.key, orDash(f.value))
	}
	return tw.Flush()
}

// table prints rows under header, in aligned columns.
func table(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		for i := range r {
			r[i] = orDash(r[i])
		}
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// orDash makes a value safe to print: "-" when empty, and control
// characters (a terminal escape in a device's name, say) shown as "?".
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, s)
}

// timestamp prints t in RFC 3339, UTC; empty when t is nil or zero.
func timestamp(t *time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
