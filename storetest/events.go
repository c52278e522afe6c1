package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/otos-iot/otos"
)

// eventOf returns a new event of type typ about subject in tenantID.
func eventOf(typ otos.EventType, tenantID, subject string) *otos.Event {
	return &otos.Event{ID: newID(), Type: typ, At: t0, TenantID: tenantID, Subject: subject,
		Data: []byte(`{"device_id":"` + subject + `"}`)}
}

// events returns every event in position order.
func events(t *testing.T, s otos.Store, tenantID string) []*otos.Event {
	t.Helper()
	var out []*otos.Event
	after := int64(0)
	for {
		page, err := s.Events(t.Context(), otos.EventFilter{TenantID: tenantID, After: after, Limit: otos.MaxPageLimit})
		must(t, err)
		if len(page) == 0 {
			return out
		}
		out = append(out, page...)
		after = page[len(page)-1].Pos
	}
}

// types returns the types of es, in order.
func types(es []*otos.Event) string {
	s := ""
	for i, e := range es {
		if i > 0 {
			s += " "
		}
		s += string(e.Type)
	}
	return s
}

// testEvents: an event is written with its change, in the change's
// transaction, and never for a change that was not made.
func testEvents(t *testing.T, s otos.Store) {
	ctx := t.Context()
	tn := newTenant(t, s)
	tpl := templateOf(tn.ID, otos.DeviceDirect)
	must(t, s.CreateTemplate(ctx, tpl, newSecret(), eventOf(otos.EventTemplateCreated, tn.ID, tpl.ID)))
	dev := deviceOf(tpl)
	must(t, s.CreateDevice(ctx, dev, eventOf(otos.EventDeviceRegistered, tn.ID, dev.ID)))

	// Refused changes write nothing.
	twin := deviceOf(tpl)
	twin.DeviceNumber = dev.DeviceNumber
	wantCode(t, s.CreateDevice(ctx, twin, eventOf(otos.EventDeviceRegistered, tn.ID, twin.ID)), otos.ECONFLICT)
	_, err := s.SetDeviceStatus(ctx, newID(), otos.StatusDisabled, t0, eventOf(otos.EventDeviceDisabled, tn.ID, "nobody"))
	wantCode(t, err, otos.ENOTFOUND)
	wantCode(t, s.MarkConnected(ctx, dev.ID, []byte("another voucher"), t0, eventOf(otos.EventDeviceConnected, tn.ID, dev.ID)), otos.ENOTFOUND)
	wantCode(t, s.DeleteDevice(ctx, newID(), eventOf(otos.EventDeviceDeleted, tn.ID, "nobody")), otos.ENOTFOUND)
	n, err := s.AllowDevices(ctx, tpl.ID, []string{"a-1"}, t0, eventOf(otos.EventAllowlistChanged, tn.ID, tpl.ID))
	must(t, err)
	if n != 1 {
		t.Fatalf("added %d", n)
	}
	_, err = s.AllowDevices(ctx, tpl.ID, []string{"a-1"}, t0, eventOf(otos.EventAllowlistChanged, tn.ID, tpl.ID))
	must(t, err) // nothing added: no change, no event

	// Made changes write theirs.
	must(t, s.MarkConnected(ctx, dev.ID, dev.Credential.Lookup, at(time.Second), eventOf(otos.EventDeviceConnected, tn.ID, dev.ID)))
	must(t, s.RecordPresence(ctx, []otos.Presence{{DeviceID: dev.ID, At: at(2 * time.Second)}},
		eventOf(otos.EventDeviceDisconnected, tn.ID, dev.ID)))
	_, err = s.SetDeviceStatus(ctx, dev.ID, otos.StatusDisabled, t0, eventOf(otos.EventDeviceDisabled, tn.ID, dev.ID))
	must(t, err)
	_, err = s.ResetDevice(ctx, dev.ID, t0, eventOf(otos.EventDeviceReset, tn.ID, dev.ID))
	must(t, err)
	tpl.Name = "renamed"
	must(t, s.UpdateTemplate(ctx, tpl, eventOf(otos.EventTemplateUpdated, tn.ID, tpl.ID)))
	must(t, s.RotateSecret(ctx, tpl.ID, newSecret(), at(time.Hour), t0, eventOf(otos.EventTemplateRotated, tn.ID, tpl.ID)))
	must(t, s.DeleteDevice(ctx, dev.ID, eventOf(otos.EventDeviceDeleted, tn.ID, dev.ID)))
	must(t, s.AppendEvents(ctx, []*otos.Event{eventOf(otos.EventRegistrationRefused, tn.ID, tpl.ID)}))

	got := events(t, s, tn.ID)
	want := "template.created device.registered allowlist.changed device.connected device.disconnected " +
		"device.disabled device.reset template.updated template.secret_rotated device.deleted registration.refused"
	if types(got) != want {
		t.Fatalf("events %q, want %q", types(got), want)
	}
	for i, e := range got {
		if i > 0 && e.Pos <= got[i-1].Pos {
			t.Errorf("event %d at position %d after %d", i, e.Pos, got[i-1].Pos)
		}
	}
	first := got[0]
	if first.ID == "" || !first.At.Equal(t0) || first.TenantID != tn.ID || first.Subject != tpl.ID ||
		string(first.Data) != `{"device_id":"`+tpl.ID+`"}` {
		t.Errorf("stored event %+v", first)
	}
	pos, err := s.EventPos(ctx, got[3].ID)
	must(t, err)
	if pos != got[3].Pos {
		t.Errorf("EventPos = %d, want %d", pos, got[3].Pos)
	}
	_, err = s.EventPos(ctx, newID())
	wantCode(t, err, otos.ENOTFOUND)
	last, err := s.LastEventPos(ctx)
	must(t, err)
	if last < got[len(got)-1].Pos {
		t.Errorf("LastEventPos = %d, below %d", last, got[len(got)-1].Pos)
	}
	// After a position, with a limit, and of one tenant only.
	page, err := s.Events(ctx, otos.EventFilter{TenantID: tn.ID, After: got[1].Pos, Limit: 2})
	must(t, err)
	if types(page) != "allowlist.changed device.connected" {
		t.Errorf("page after the second: %q", types(page))
	}
	other := newTenant(t, s)
	must(t, s.AppendEvents(ctx, []*otos.Event{eventOf(otos.EventRegistrationRefused, other.ID, "x")}))
	if n := len(events(t, s, other.ID)); n != 1 {
		t.Errorf("the other tenant has %d events, want 1", n)
	}
	if n := len(events(t, s, tn.ID)); n != len(got) {
		t.Errorf("the first tenant has %d events after another's, want %d", n, len(got))
	}

	// Pruning removes the old ones.
	old := eventOf(otos.EventRegistrationRefused, tn.ID, "x")
	old.At = at(-48 * time.Hour)
	must(t, s.AppendEvents(ctx, []*otos.Event{old}))
	pruned, err := s.PruneEvents(ctx, at(-24*time.Hour))
	must(t, err)
	if pruned != 1 {
		t.Errorf("pruned %d, want 1", pruned)
	}
}

// testEventOrder: concurrent changes each write their event exactly when
// they are made, at distinct positions, and a reader that follows the
// positions while they commit misses none.
func testEventOrder(t *testing.T, s otos.Store) {
	ctx := t.Context()
	tn := newTenant(t, s)
	tpl, _ := newTemplate(t, s, tn.ID, otos.DeviceDirect)
	const writers, each = 8, 25
	seen := map[string]bool{}
	stop := make(chan struct{})
	var read sync.WaitGroup
	read.Go(func() {
		after := int64(0)
		for {
			// Whether the writers had finished before this read: then an
			// empty page means there is nothing more.
			var done bool
			select {
			case <-stop:
				done = true
			default:
			}
			page, err := s.Events(ctx, otos.EventFilter{TenantID: tn.ID, After: after})
			if err != nil {
				t.Error(err)
				return
			}
			for _, e := range page {
				seen[e.ID] = true
				after = e.Pos
			}
			if done && len(page) == 0 {
				return
			}
		}
	})
	var wg sync.WaitGroup
	want := make(chan string, writers*each)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				d := deviceOf(tpl)
				if i%5 == 0 {
					d.DeviceNumber = fmt.Sprintf("taken-%d", i) // one writer wins each of these
				}
				e := eventOf(otos.EventDeviceRegistered, tn.ID, d.ID)
				if err := s.CreateDevice(ctx, d, e); err == nil {
					want <- e.ID
				} else if otos.ErrorCode(err) != otos.ECONFLICT {
					t.Errorf("writer %d: %v", w, err)
				}
			}
		})
	}
	wg.Wait()
	close(want)
	close(stop)
	read.Wait()
	n := 0
	for id := range want {
		n++
		if !seen[id] {
			t.Errorf("the reader missed event %s", id)
		}
	}
	if all := events(t, s, tn.ID); len(all) != n {
		t.Errorf("%d events for %d devices created", len(all), n)
	}
}

// testWebhooks: endpoints, their leases, cursors and deliveries.
func testWebhooks(t *testing.T, s otos.Store) {
	ctx := t.Context()
	tn := newTenant(t, s)
	must(t, s.AppendEvents(ctx, []*otos.Event{eventOf(otos.EventRegistrationRefused, tn.ID, "before")}))
	w := &otos.Webhook{ID: newID(), TenantID: tn.ID, URL: "https://example.com/hook",
		Types: []otos.EventType{otos.EventDeviceRegistered, otos.EventDeviceDeleted}, Sealed: randomBytes(), CreatedAt: t0}
	must(t, s.CreateWebhook(ctx, w))
	last, err := s.LastEventPos(ctx)
	must(t, err)
	if w.Cursor != last {
		t.Errorf("a new webhook's cursor is %d, want the newest event %d", w.Cursor, last)
	}
	got, err := s.Webhook(ctx, w.ID)
	must(t, err)
	if got.URL != w.URL || len(got.Types) != 2 || got.Types[1] != otos.EventDeviceDeleted || string(got.Sealed) != string(w.Sealed) ||
		!got.CreatedAt.Equal(t0) || got.TenantID != tn.ID {
		t.Errorf("stored webhook %+v", got)
	}
	all := &otos.Webhook{ID: newID(), TenantID: tn.ID, URL: "https://example.com/all", Sealed: randomBytes(), CreatedAt: t0}
	must(t, s.CreateWebhook(ctx, all))
	list, next, err := s.Webhooks(ctx, otos.WebhookFilter{TenantID: tn.ID})
	must(t, err)
	if len(list) != 2 || next != "" || len(list[1].Types) != 0 {
		t.Fatalf("webhooks %+v next %q", list, next)
	}
	wantCode(t, s.CreateWebhook(ctx, &otos.Webhook{ID: newID(), TenantID: newID(), URL: "https://x", Sealed: randomBytes()}), otos.ENOTFOUND)

	// One node at a time.
	_, err = s.LeaseWebhook(ctx, w.ID, "node-a", at(time.Minute), t0)
	must(t, err)
	_, err = s.LeaseWebhook(ctx, w.ID, "node-b", at(time.Minute), at(time.Second))
	wantCode(t, err, otos.ECONFLICT)
	_, err = s.LeaseWebhook(ctx, w.ID, "node-a", at(2*time.Minute), at(time.Second)) // renewed
	must(t, err)
	_, err = s.LeaseWebhook(ctx, newID(), "node-a", at(time.Minute), t0)
	wantCode(t, err, otos.ENOTFOUND)

	// Events after the cursor; the ones not received are kept.
	tpl, _ := newTemplate(t, s, tn.ID, otos.DeviceDirect)
	for range 3 {
		d := deviceOf(tpl)
		must(t, s.CreateDevice(ctx, d, eventOf(otos.EventDeviceRegistered, tn.ID, d.ID)))
	}
	stored := events(t, s, tn.ID)
	evs := stored[len(stored)-3:]
	failed := &otos.Delivery{WebhookID: w.ID, Pos: evs[1].Pos, Subject: evs[1].Subject, State: otos.DeliveryRetrying,
		Attempts: 1, NextAt: at(time.Minute), LastStatus: 500, LastError: "HTTP 500", UpdatedAt: t0}
	must(t, s.AdvanceWebhook(ctx, w.ID, "node-a", evs[2].Pos, []*otos.Delivery{failed}, at(time.Second)))
	got, err = s.Webhook(ctx, w.ID)
	must(t, err)
	if got.Cursor != evs[2].Pos {
		t.Errorf("cursor %d, want %d", got.Cursor, evs[2].Pos)
	}
	wantCode(t, s.AdvanceWebhook(ctx, w.ID, "node-b", evs[2].Pos, nil, at(time.Second)), otos.ECONFLICT)
	// A lease that ran out advances nothing, though no node took it since:
	// its holder may have been overtaken.
	wantCode(t, s.AdvanceWebhook(ctx, w.ID, "node-a", evs[2].Pos+1, nil, at(2*time.Minute)), otos.ECONFLICT)
	ds, des, err := s.Deliveries(ctx, otos.DeliveryFilter{WebhookID: w.ID})
	must(t, err)
	if len(ds) != 1 || ds[0].EventID != evs[1].ID || ds[0].State != otos.DeliveryRetrying || ds[0].Attempts != 1 ||
		ds[0].LastStatus != 500 || !ds[0].NextAt.Equal(at(time.Minute)) || ds[0].EventType != otos.EventDeviceRegistered ||
		len(des) != 1 || des[0].ID != evs[1].ID || string(des[0].Data) != string(evs[1].Data) {
		t.Fatalf("deliveries %+v with events %+v", ds, des)
	}
	ds[0].State, ds[0].Attempts, ds[0].LastError = otos.DeliveryDead, 9, "gave up"
	must(t, s.UpdateDelivery(ctx, ds[0]))
	dead, _, err := s.Deliveries(ctx, otos.DeliveryFilter{WebhookID: w.ID, State: otos.DeliveryDead})
	must(t, err)
	if len(dead) != 1 || dead[0].Attempts != 9 || dead[0].LastError != "gave up" {
		t.Errorf("dead deliveries %+v", dead)
	}
	if retrying, _, err := s.Deliveries(ctx, otos.DeliveryFilter{WebhookID: w.ID, State: otos.DeliveryRetrying}); err != nil || len(retrying) != 0 {
		t.Errorf("retrying deliveries %+v, %v", retrying, err)
	}
	testLiveDeliveries(t, s, w, evs)
	must(t, s.DeleteDelivery(ctx, w.ID, evs[1].Pos))
	wantCode(t, s.DeleteDelivery(ctx, w.ID, evs[1].Pos), otos.ENOTFOUND)

	// Deleting a webhook deletes its deliveries; so does pruning their events.
	must(t, s.AdvanceWebhook(ctx, w.ID, "node-a", evs[2].Pos, []*otos.Delivery{failed}, at(time.Second)))
	must(t, s.DeleteWebhook(ctx, w.ID))
	_, err = s.Webhook(ctx, w.ID)
	wantCode(t, err, otos.ENOTFOUND)
	wantCode(t, s.DeleteWebhook(ctx, w.ID), otos.ENOTFOUND)
	_, err = s.LeaseWebhook(ctx, all.ID, "node-a", at(time.Minute), t0)
	must(t, err)
	must(t, s.AdvanceWebhook(ctx, all.ID, "node-a", evs[2].Pos, []*otos.Delivery{{WebhookID: all.ID, Pos: evs[0].Pos,
		Subject: evs[0].Subject, State: otos.DeliveryWaiting, NextAt: t0, UpdatedAt: t0}}, t0))
	_, err = s.PruneEvents(ctx, at(time.Hour))
	must(t, err)
	if ds, _, err := s.Deliveries(ctx, otos.DeliveryFilter{WebhookID: all.ID}); err != nil || len(ds) != 0 {
		t.Errorf("deliveries of pruned events: %+v, %v", ds, err)
	}
}

// testLiveDeliveries: what a webhook still has to deliver leaves out the
// dead, one delivery left after dead ones in evs[1], and which devices
// wait behind a delivery.
func testLiveDeliveries(t *testing.T, s otos.Store, w *otos.Webhook, evs []*otos.Event) {
	ctx := t.Context()
	_, err := s.LeaseWebhook(ctx, w.ID, "node-a", at(3*time.Minute), at(time.Second))
	must(t, err)
	waiting := &otos.Delivery{WebhookID: w.ID, Pos: evs[2].Pos, Subject: evs[2].Subject, State: otos.DeliveryWaiting,
		NextAt: t0, UpdatedAt: t0}
	must(t, s.AdvanceWebhook(ctx, w.ID, "node-a", evs[2].Pos, []*otos.Delivery{waiting}, at(time.Second)))
	live, les, err := s.Deliveries(ctx, otos.DeliveryFilter{WebhookID: w.ID, Live: true})
	must(t, err)
	if len(live) != 1 || live[0].Pos != evs[2].Pos || len(les) != 1 || les[0].ID != evs[2].ID {
		t.Errorf("live deliveries %+v, want only the waiting one", live)
	}
	if dead, _, err := s.Deliveries(ctx, otos.DeliveryFilter{WebhookID: w.ID, State: otos.DeliveryDead, Live: true}); err != nil || len(dead) != 0 {
		t.Errorf("live and dead deliveries %+v, %v", dead, err)
	}
	// evs[1]'s device has only a dead delivery: it waits behind nothing.
	got, err := s.PendingSubjects(ctx, w.ID, []string{evs[0].Subject, evs[1].Subject, evs[2].Subject, "unknown"})
	must(t, err)
	if len(got) != 1 || got[0] != evs[2].Subject {
		t.Errorf("pending subjects %v, want only %s", got, evs[2].Subject)
	}
	if got, err := s.PendingSubjects(ctx, w.ID, nil); err != nil || len(got) != 0 {
		t.Errorf("pending subjects of none: %v, %v", got, err)
	}
	must(t, s.DeleteDelivery(ctx, w.ID, evs[2].Pos))
}
