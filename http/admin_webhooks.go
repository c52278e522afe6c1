package http

import (
	"net/http"
	"strconv"

	"github.com/otos-iot/otos"
)

// WebhookCreated is the answer to POST /api/v1/webhooks: the webhook and,
// this once, its signing secret.
type WebhookCreated struct {
	*otos.Webhook
	Secret string `json:"secret"`
}

// EventPage is a page of GET /api/v1/events: pass After back as after for
// the next one; it stays what was sent when there is nothing new.
type EventPage struct {
	Items []*otos.Event `json:"items"`
	After string        `json:"after"`
}

func (s *Server) createWebhook(r *http.Request, p *otos.Principal) (int, any, error) {
	var body struct {
		URL       string           `json:"url"`
		Types     []otos.EventType `json:"types"`
		BatchSize int              `json:"batch_size"`
		TenantID  string           `json:"tenant_id"`
	}
	if err := decodeAdmin(r, &body, false); err != nil {
		return 0, nil, err
	}
	w := &otos.Webhook{TenantID: body.TenantID, URL: body.URL, Types: body.Types, BatchSize: body.BatchSize}
	secret, err := s.cfg.Admin.CreateWebhook(r.Context(), p, w)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, WebhookCreated{Webhook: w, Secret: string(secret)}, nil
}

func (s *Server) listWebhooks(r *http.Request, p *otos.Principal) (int, any, error) {
	pg, err := page(r.URL.Query())
	if err != nil {
		return 0, nil, err
	}
	items, next, err := s.cfg.Admin.Webhooks(r.Context(), p, pg)
	return http.StatusOK, List[*otos.Webhook]{Items: nonNil(items), NextCursor: next}, err
}

func (s *Server) deleteWebhook(r *http.Request, p *otos.Principal) (int, any, error) {
	id, err := pathID(r, "webhook")
	if err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, s.cfg.Admin.DeleteWebhook(r.Context(), p, id)
}

// listDeliveries serves GET /api/v1/webhooks/{id}/deliveries: the events
// the webhook has not received, oldest first, paged by next_cursor.
func (s *Server) listDeliveries(r *http.Request, p *otos.Principal) (int, any, error) {
	id, err := pathID(r, "webhook")
	if err != nil {
		return 0, nil, err
	}
	q := r.URL.Query()
	pg, err := page(q)
	if err != nil {
		return 0, nil, err
	}
	f := otos.DeliveryFilter{WebhookID: id, State: otos.DeliveryState(first(q, "state")), Limit: pg.Limit}
	if after, err := otos.DecodeCursor(pg.Cursor); err != nil {
		return 0, nil, err
	} else if after != "" {
		if f.After, err = strconv.ParseInt(after, 10, 64); err != nil {
			return 0, nil, otos.FieldError("cursor", otos.ReasonValue, "cursor is not valid; pass next_cursor from the previous page")
		}
	}
	items, err := s.cfg.Admin.Deliveries(r.Context(), p, f)
	next := ""
	if len(items) == pg.Limit {
		next = otos.EncodeCursor(strconv.FormatInt(items[len(items)-1].Pos, 10))
	}
	return http.StatusOK, List[*otos.Delivery]{Items: nonNil(items), NextCursor: next}, err
}

func (s *Server) resendDelivery(r *http.Request, p *otos.Principal) (int, any, error) {
	id, err := pathID(r, "webhook")
	if err != nil {
		return 0, nil, err
	}
	d, err := s.cfg.Admin.ResendDelivery(r.Context(), p, id, r.PathValue("event_id"))
	return http.StatusOK, d, err
}

// listEvents serves GET /api/v1/events?after=<id>: replay, and tailing.
func (s *Server) listEvents(r *http.Request, p *otos.Principal) (int, any, error) {
	q := r.URL.Query()
	pg, err := page(q)
	if err != nil {
		return 0, nil, err
	}
	// cursor, the other lists' page parameter, is after by another name.
	after := first(q, "after")
	switch {
	case after == "":
		after = pg.Cursor
	case pg.Cursor != "" && pg.Cursor != after:
		return 0, nil, otos.FieldError("cursor", otos.ReasonValue, "cursor and after name different events; send one of them")
	}
	items, err := s.cfg.Admin.Events(r.Context(), p, after, pg.Limit)
	if len(items) > 0 {
		after = items[len(items)-1].ID
	}
	return http.StatusOK, EventPage{Items: nonNil(items), After: after}, err
}
