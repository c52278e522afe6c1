package provision_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/otos-iot/otos"
	"github.com/otos-iot/otos/provision"
	"github.com/otos-iot/otos/storetest"
)

// TestAuditRetention: the background writer deletes records older than the
// retention and keeps the others.
func TestAuditRetention(t *testing.T) {
	_, store := newService(t)
	now := time.Now().UTC().Truncate(time.Microsecond)
	s := provision.New(provision.Config{Store: store, Keys: newKeys(t), AuditRetention: 24 * time.Hour,
		Now: func() time.Time { return now }})
	old := &otos.AuditRecord{ID: "01000000-0000-7000-8000-000000000001", At: now.Add(-25 * time.Hour),
		Kind: otos.AuditAdmin, Actor: "a", Action: "old"}
	recent := &otos.AuditRecord{ID: "01000000-0000-7000-8000-000000000002", At: now.Add(-23 * time.Hour),
		Kind: otos.AuditAdmin, Actor: "a", Action: "recent"}
	if err := store.AppendAudit(context.Background(), []*otos.AuditRecord{old, recent}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	time.Sleep(100 * time.Millisecond) // Run prunes as it starts
	cancel()
	<-done
	rs, _, err := store.Audit(context.Background(), otos.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || rs[0].Action != "recent" {
		t.Fatalf("after pruning: %d records %+v, want only the recent one", len(rs), rs)
	}
}

// A flood of identical refusals is recorded one by one up to a point, and
// then counted on the last record: every attempt is accounted for, in
// fewer rows. Other refusals and every success keep records of their own.
func TestAuditFoldsIdenticalRefusals(t *testing.T) {
	ctx := context.Background()
	s, store := newService(t)
	bad := func(number, addr string) {
		_, err := register(ctx, s, otos.Client{Addr: addr, Key: addr}, &otos.AuthRequest{TemplateSecret: "no-such-secret", DeviceNumber: number})
		if otos.ErrorCode(err) != otos.ESECRETUNKNOWN {
			t.Fatalf("Register: %v, want ESECRETUNKNOWN", err)
		}
	}
	for range 25 {
		bad("flood-1", "10.0.0.1")
	}
	for range 3 {
		bad("flood-1", "10.0.0.2") // another address
		bad("flood-2", "10.0.0.1") // another device
	}
	// Successes are never folded: each re-issue is a voucher of its own.
	secret, err := s.Admin.CreateTemplate(ctx, sys, &otos.Template{Name: "t", DeviceType: otos.DeviceDirect})
	if err != nil {
		t.Fatal(err)
	}
	for range 12 {
		if _, err := register(ctx, s, otos.Client{Addr: "10.0.0.1", Key: "10.0.0.1"}, &otos.AuthRequest{TemplateSecret: secret, DeviceNumber: "ok-1"}); err != nil {
			t.Fatal(err)
		}
	}
	s.FlushAudit(ctx)
	bad("flood-1", "10.0.0.1") // the next write starts counting anew
	s.FlushAudit(ctx)

	rs, _, err := store.Audit(ctx, otos.AuditFilter{Page: otos.Page{Limit: 100}})
	if err != nil {
		t.Fatal(err)
	}
	type key struct{ number, addr string }
	records, attempts := map[key]int{}, map[key]int{}
	for _, r := range rs {
		if r.Count < 1 {
			t.Errorf("record %+v: count %d", r, r.Count)
		}
		k := key{r.DeviceNumber, r.ClientAddr}
		records[k]++
		attempts[k] += r.Count
	}
	want := map[key][2]int{ // records, attempts
		{"flood-1", "10.0.0.1"}: {11, 26},
		{"flood-1", "10.0.0.2"}: {3, 3},
		{"flood-2", "10.0.0.1"}: {3, 3},
		{"ok-1", "10.0.0.1"}:    {12, 12},
	}
	for k, w := range want {
		if records[k] != w[0] || attempts[k] != w[1] {
			t.Errorf("%v: %d records for %d attempts, want %d for %d", k, records[k], attempts[k], w[0], w[1])
		}
	}
}

// TestAuditSurvivesAnOutage: records that could not be written while the
// store was unreachable are written once it is back; none is lost.
func TestAuditSurvivesAnOutage(t *testing.T) {
	ctx := context.Background()
	store := storetest.NewFaults(newStore(t))
	s := provision.New(provision.Config{Store: store, Keys: newKeys(t)})
	store.Fail("AppendAudit", otos.Errorf(otos.EUNAVAILABLE, "database unreachable"))
	for i := range 3 {
		register(ctx, s, device, &otos.AuthRequest{TemplateSecret: "wrong", DeviceNumber: fmt.Sprintf("out-%d", i)})
	}
	s.FlushAudit(ctx)
	store.Heal()
	register(ctx, s, device, &otos.AuthRequest{TemplateSecret: "wrong", DeviceNumber: "out-3"})
	s.FlushAudit(ctx)
	rs, _, err := store.Audit(ctx, otos.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 4 || store.Calls("AppendAudit") != 2 {
		t.Fatalf("%d records after the outage in %d writes, want 4 in 2: %+v", len(rs), store.Calls("AppendAudit"), rs)
	}
}
