package provision_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/otos-iot/otos"
	"github.com/otos-iot/otos/provision"
)

// allEvents returns every event of tenant in position order.
func allEvents(t *testing.T, store otos.Store, tenant string) []*otos.Event {
	t.Helper()
	es, err := store.Events(context.Background(), otos.EventFilter{TenantID: tenant, Limit: otos.MaxPageLimit})
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// TestEventsOfChanges: every change made through the core leaves its event,
// in order, with what a consumer needs and no secret; a change refused
// leaves none.
func TestEventsOfChanges(t *testing.T) {
	ctx := context.Background()
	s, store := newService(t)
	tpl := &otos.Template{Name: "evented", DeviceType: otos.DeviceDirect}
	secret := createTemplate(t, s, tpl)
	first, err := register(ctx, s, device, &otos.AuthRequest{TemplateSecret: secret, DeviceNumber: "ev-1", DeviceName: "kitchen"})
	if err != nil {
		t.Fatal(err)
	}
	again, err := register(ctx, s, device, &otos.AuthRequest{TemplateSecret: secret, DeviceNumber: "ev-1"})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := s.Sessions.Authenticate(ctx, device, string(again.Voucher.Username), string(again.Voucher.Password))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Sessions.Connected(ctx, sess); err != nil {
		t.Fatal(err)
	}
	s.Sessions.Disconnected(sess)
	if err := s.Sessions.Connected(ctx, sess); err != nil { // a later connection: batched with presence
		t.Fatal(err)
	}
	s.Sessions.Disconnected(sess)
	s.FlushEvents(ctx)
	id := first.Device.ID
	for _, st := range []otos.DeviceStatus{otos.StatusDisabled, otos.StatusEnabled} {
		if _, err := s.Admin.SetDeviceStatus(ctx, sys, id, st); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Admin.ResetDevice(ctx, sys, id); err != nil {
		t.Fatal(err)
	}
	if err := s.Admin.DeleteDevice(ctx, sys, id); err != nil {
		t.Fatal(err)
	}
	name, off := "renamed", otos.RegistrationAllowlist
	if _, err := s.Admin.UpdateTemplate(ctx, sys, tpl.ID, otos.TemplateUpdate{Name: &name, Registration: &off}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Admin.RotateSecret(ctx, sys, tpl.ID, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Admin.ImportAllowlist(ctx, sys, tpl.ID, []string{"a-1", "a-2"}); err != nil {
		t.Fatal(err)
	}
	// Refused changes leave no event.
	if err := s.Admin.DeleteDevice(ctx, sys, id); otos.ErrorCode(err) != otos.ENOTFOUND {
		t.Fatalf("deleting again: %v", err)
	}

	es := allEvents(t, store, otos.DefaultTenantID)
	var got []string
	for _, e := range es {
		got = append(got, string(e.Type))
		if strings.Contains(string(e.Data), string(secret)) || strings.Contains(string(e.Data), string(again.Voucher.Password)) {
			t.Errorf("event %s holds a secret: %s", e.Type, e.Data)
		}
	}
	want := "template.created device.registered device.reissued device.connected device.disconnected " +
		"device.connected device.disconnected device.disabled device.enabled device.reset device.deleted " +
		"template.updated template.secret_rotated allowlist.changed"
	if strings.Join(got, " ") != want {
		t.Fatalf("events\n %s\nwant\n %s", strings.Join(got, " "), want)
	}
	var reg otos.EventData
	if err := json.Unmarshal(es[1].Data, &reg); err != nil {
		t.Fatal(err)
	}
	if reg.DeviceID != id || reg.DeviceNumber != "ev-1" || reg.DeviceName != "kitchen" || reg.TemplateID != tpl.ID ||
		reg.ClientAddr != device.Addr || es[1].Subject != id || es[1].TenantID != otos.DefaultTenantID {
		t.Errorf("device.registered: %+v, subject %s", reg, es[1].Subject)
	}
	var upd otos.EventData
	if err := json.Unmarshal(es[11].Data, &upd); err != nil {
		t.Fatal(err)
	}
	if strings.Join(upd.Changed, ",") != "name,registration" {
		t.Errorf("template.updated names %v as changed", upd.Changed)
	}
}

// TestRefusalFlood: 10,000 wrong secrets and a few other refusals are
// counted into a handful of registration.refused events, one per template
// and code, with every attempt counted.
func TestRefusalFlood(t *testing.T) {
	ctx := context.Background()
	s, store := newService(t)
	secret := createTemplate(t, s, &otos.Template{Name: "t", DeviceType: otos.DeviceDirect})
	for range 10_000 {
		register(ctx, s, device, &otos.AuthRequest{TemplateSecret: "wrong", DeviceNumber: "flood"})
	}
	if _, err := register(ctx, s, device, &otos.AuthRequest{TemplateSecret: secret, DeviceNumber: "ok"}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		register(ctx, s, device, &otos.AuthRequest{TemplateSecret: secret, DeviceNumber: "ok", ProductKey: "nope"})
	}
	s.FlushEvents(ctx)
	counts := map[int]int{}
	n := 0
	for _, e := range allEvents(t, store, "") { // every tenant, and none: a wrong secret names no template
		if e.Type != otos.EventRegistrationRefused {
			continue
		}
		n++
		var d otos.EventData
		if err := json.Unmarshal(e.Data, &d); err != nil {
			t.Fatal(err)
		}
		counts[d.Code] += d.Count
		if d.From == nil || d.Until == nil || d.Until.Before(*d.From) {
			t.Errorf("refusal window %v–%v", d.From, d.Until)
		}
	}
	if n != 2 || counts[200080] != 10_000 || counts[200083] != 3 {
		t.Errorf("%d registration.refused events counting %v, want 2 counting 10000 × 200080 and 3 × 200083", n, counts)
	}
}

// outage is a store whose batched event writes fail as unavailable while
// down is set.
type outage struct {
	otos.Store
	down atomic.Bool
}

var errDown = otos.Errorf(otos.EUNAVAILABLE, "store unavailable")

func (o *outage) RecordPresence(ctx context.Context, ps []otos.Presence, es ...*otos.Event) error {
	if o.down.Load() {
		return errDown
	}
	return o.Store.RecordPresence(ctx, ps, es...)
}

func (o *outage) AppendEvents(ctx context.Context, es []*otos.Event) error {
	if o.down.Load() {
		return errDown
	}
	return o.Store.AppendEvents(ctx, es)
}

// TestBatchedEventsSurviveOutage: connections, disconnections and refused
// registrations gathered while the store is away are written, in order,
// once it is back, not dropped with the flush that failed.
func TestBatchedEventsSurviveOutage(t *testing.T) {
	ctx := context.Background()
	store := &outage{Store: newStore(t)}
	s := provision.New(provision.Config{Store: store, Keys: newKeys(t)})
	secret := createTemplate(t, s, &otos.Template{Name: "t", DeviceType: otos.DeviceDirect})
	iss, err := register(ctx, s, device, &otos.AuthRequest{TemplateSecret: secret, DeviceNumber: "out-1"})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := s.Sessions.Authenticate(ctx, device, string(iss.Voucher.Username), string(iss.Voucher.Password))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Sessions.Connected(ctx, sess); err != nil { // the first: written at once
		t.Fatal(err)
	}
	store.down.Store(true)
	s.Sessions.Disconnected(sess)
	if err := s.Sessions.Connected(ctx, sess); err != nil {
		t.Fatal(err)
	}
	register(ctx, s, device, &otos.AuthRequest{TemplateSecret: "wrong", DeviceNumber: "x"})
	s.FlushEvents(ctx) // fails: kept
	s.Sessions.Disconnected(sess)
	register(ctx, s, device, &otos.AuthRequest{TemplateSecret: "wrong", DeviceNumber: "x"})
	s.FlushEvents(ctx) // fails again
	store.down.Store(false)
	s.FlushEvents(ctx)

	var got []string
	for _, e := range allEvents(t, store, iss.Device.TenantID) {
		if e.Subject == iss.Device.ID {
			got = append(got, string(e.Type))
		}
	}
	want := "device.registered device.connected device.disconnected device.connected device.disconnected"
	if strings.Join(got, " ") != want {
		t.Errorf("the device's events %v, want %s", got, want)
	}
	refused := 0
	for _, e := range allEvents(t, store, "") {
		if e.Type == otos.EventRegistrationRefused {
			var d otos.EventData
			if err := json.Unmarshal(e.Data, &d); err != nil {
				t.Fatal(err)
			}
			refused += d.Count
		}
	}
	if refused != 2 {
		t.Errorf("%d refused registrations counted, want 2", refused)
	}
	d, err := store.Device(ctx, iss.Device.ID)
	if err != nil || d.Online {
		t.Errorf("device online %v (%v), want offline, as its last disconnection said", d.Online, err)
	}
}
