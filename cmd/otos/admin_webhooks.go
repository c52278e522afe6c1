package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/otos-iot/otos"
	otoshttp "github.com/otos-iot/otos/http"
)

var webhookCommands = []command{
	{"create", "", "Register an endpoint for the tenant's events; print its signing secret, shown only this once", webhookCreate},
	{"list", "", "List webhooks", func(fs *flag.FlagSet) action {
		return listOf("/api/v1/webhooks", defineListing(fs), webhookColumns)
	}},
	{"show", "ID", "Show a webhook", byID(http.MethodGet, "/api/v1/webhooks/%s", printWebhook)},
	{"delete", "ID", "Delete a webhook, and the events it has not received", webhookDelete},
	{"deliveries", "ID", "List the events a webhook has not received: retrying, waiting, dead", webhookDeliveries},
	{"resend", "ID", "Send an event the webhook has not received again, now (--event ID)", webhookResend},
}

var eventCommands = []command{
	{"list", "", "List events, oldest kept first, or after --after", eventsList},
	{"tail", "", "Print events as they happen, one JSON object a line, from --after or from now", eventsTail},
}

// stringList is a flag that may be given more than once.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, strings.Split(v, ",")...); return nil }

func webhookCreate(fs *flag.FlagSet) action {
	var types stringList
	fs.Var(&types, "type", "an event `TYPE` it receives, e.g. device.registered; repeat or separate with commas (default: every type)")
	fields := defineFields(fs, fieldFlag{"url", "url", "the endpoint's `URL`, https:// (required)"}, tenantFlag)
	batch := fs.Int("batch", 1, "up to `N` events a request, as {\"events\":[…]} (1: each event is the body)")
	return func(ctx context.Context, c *cli, _ string) error {
		if err := required(fs, "url"); err != nil {
			return err
		}
		body := map[string]any{}
		for k, v := range fields() {
			body[k] = v
		}
		if len(types) > 0 {
			body["types"] = types
		}
		body["batch_size"] = *batch
		return call(ctx, c, http.MethodPost, "/api/v1/webhooks", body, printCreatedWebhook)
	}
}

func webhookDelete(*flag.FlagSet) action {
	return func(ctx context.Context, c *cli, id string) error {
		if _, err := c.api.Call(ctx, http.MethodDelete, idPath("/api/v1/webhooks/%s", id), nil, nil); err != nil {
			return err
		}
		if c.json {
			return nil
		}
		_, err := fmt.Fprintf(c.out, "webhook %s deleted\n", orDash(id))
		return err
	}
}

func webhookDeliveries(fs *flag.FlagSet) action {
	l := defineListing(fs, fieldFlag{"state", "state", "only deliveries in this `STATE`: retrying, waiting or dead"})
	return func(ctx context.Context, c *cli, id string) error {
		return list(ctx, c, idPath("/api/v1/webhooks/%s/deliveries", id), l, deliveryColumns)
	}
}

func webhookResend(fs *flag.FlagSet) action {
	event := fs.String("event", "", "the `ID` of the event to send again (required)")
	return func(ctx context.Context, c *cli, id string) error {
		if err := required(fs, "event"); err != nil {
			return err
		}
		path := idPath("/api/v1/webhooks/%s/deliveries/", id) + url.PathEscape(*event) + "/resend"
		return call(ctx, c, http.MethodPost, path, nil, printDelivery)
	}
}

var webhookColumns = columns[otos.Webhook]{
	header: []string{"ID", "URL", "TYPES", "BATCH", "CREATED"},
	row: func(w *otos.Webhook) []string {
		return []string{w.ID, w.URL, webhookTypes(w), strconv.Itoa(w.BatchSize), timestamp(&w.CreatedAt)}
	},
}

func webhookTypes(w *otos.Webhook) string {
	if len(w.Types) == 0 {
		return "every type"
	}
	s := make([]string, len(w.Types))
	for i, t := range w.Types {
		s[i] = string(t)
	}
	return strings.Join(s, ",")
}

func printWebhook(w io.Writer, h *otos.Webhook) error {
	return printFields(w,
		field{"id", h.ID},
		field{"url", h.URL},
		field{"types", webhookTypes(h)},
		field{"batch size", strconv.Itoa(h.BatchSize)},
		field{"tenant", h.TenantID},
		field{"created", timestamp(&h.CreatedAt)})
}

// printCreatedWebhook prints the new webhook and its secret, set apart,
// with how a receiver checks a delivery.
func printCreatedWebhook(w io.Writer, h *otoshttp.WebhookCreated) error {
	if err := printWebhook(w, h.Webhook); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, `
Signing secret; shown only this once: store it with the receiver.

    %s

Each delivery is a POST of the event's JSON with the headers webhook-id, webhook-timestamp and
webhook-signature ("v1," + base64 HMAC-SHA256 of "<id>.<timestamp>.<body>", keyed with the
base64-decoded part of the secret after "whsec_"). Answer 2xx; anything else is retried.
`, orDash(h.Secret))
	return err
}

var deliveryColumns = columns[otos.Delivery]{
	header: []string{"EVENT", "TYPE", "STATE", "ATTEMPTS", "NEXT", "LAST ERROR"},
	row: func(d *otos.Delivery) []string {
		next := timestamp(&d.NextAt)
		if d.State != otos.DeliveryRetrying {
			next = ""
		}
		return []string{d.EventID, string(d.EventType), string(d.State), strconv.Itoa(d.Attempts), next, d.LastError}
	},
}

func printDelivery(w io.Writer, d *otos.Delivery) error {
	return printFields(w,
		field{"webhook", d.WebhookID},
		field{"event", d.EventID},
		field{"type", string(d.EventType)},
		field{"state", string(d.State)},
		field{"attempts", strconv.Itoa(d.Attempts)},
		field{"next attempt", timestamp(&d.NextAt)})
}

func eventsList(fs *flag.FlagSet) action {
	after := fs.String("after", "", "list the events after the one with this `ID`")
	limit := fs.Int("limit", 0, "at most `N` events (server default 100, at most 1000)")
	return func(ctx context.Context, c *cli, _ string) error {
		page, raw, err := fetchEvents(ctx, c, *after, *limit)
		if err != nil {
			return err
		}
		if c.json {
			return c.printJSON(raw)
		}
		rows := make([][]string, len(page.Items))
		for i, e := range page.Items {
			rows[i] = []string{e.ID, string(e.Type), timestamp(&e.At), e.TenantID, string(e.Data)}
		}
		if err := table(c.out, []string{"ID", "TYPE", "AT", "TENANT", "DATA"}, rows); err != nil {
			return err
		}
		if page.After != "" {
			_, err = fmt.Fprintf(c.out, "after: %s (pass it to --after for what follows)\n", page.After)
		}
		return err
	}
}

// tailEvery is how often "events tail" asks for new events.
const tailEvery = time.Second

func eventsTail(fs *flag.FlagSet) action {
	after := fs.String("after", "", "start after the event with this `ID` (default: from now on)")
	return func(ctx context.Context, c *cli, _ string) error {
		cur := *after
		if cur == "" {
			// From now on: skip to the newest event kept.
			for {
				page, _, err := fetchEvents(ctx, c, cur, otos.MaxPageLimit)
				if err != nil {
					return err
				}
				if cur = page.After; len(page.Items) < otos.MaxPageLimit {
					break
				}
			}
		}
		for {
			page, _, err := fetchEvents(ctx, c, cur, otos.MaxPageLimit)
			if err != nil {
				return err
			}
			for _, e := range page.Items {
				b, _ := json.Marshal(e)
				if _, err := fmt.Fprintf(c.out, "%s\n", b); err != nil {
					return err
				}
			}
			cur = page.After
			if len(page.Items) == otos.MaxPageLimit {
				continue
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(tailEvery):
			}
		}
	}
}

// fetchEvents gets one page of GET /api/v1/events.
func fetchEvents(ctx context.Context, c *cli, after string, limit int) (*otoshttp.EventPage, json.RawMessage, error) {
	q := url.Values{}
	if after != "" {
		q.Set("after", after)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	raw, err := c.api.Call(ctx, http.MethodGet, "/api/v1/events", q, nil)
	if err != nil {
		return nil, nil, err
	}
	var page otoshttp.EventPage
	if err := json.Unmarshal(raw, &page); err != nil {
		return nil, nil, fmt.Errorf("read the answer of GET /api/v1/events: %w", err)
	}
	return &page, raw, nil
}
