package provision_test

import (
	"context"
	"testing"
	"time"

	"github.com/otos-iot/otos"
	"github.com/otos-iot/otos/provision"
)

// TestAuditRetention: the background writer deletes records older than the
// retention and keeps the others.
func TestAuditRetention(t *testing.T) {
	_, store := newService(t)
	keys, _ := provision.NewKeyring(make([]byte, provision.KeySize))
	now := time.Now().UTC().Truncate(time.Microsecond)
	s := provision.New(provision.Config{Store: store, Keys: keys, AuditRetention: 24 * time.Hour,
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
