package postgres

import (
	"testing"
	"time"

	"github.com/otos-iot/otos"
	"github.com/otos-iot/otos/postgres/pgtest"
)

// openBehind opens the store at dsn through a proxy that the test controls,
// with short timeouts.
func openBehind(t *testing.T, dsn string) (*DB, *pgtest.Proxy) {
	t.Helper()
	p := pgtest.NewProxy(t, pgtest.Addr(t, dsn))
	d, err := OpenConfig(t.Context(), Config{DSN: pgtest.WithHostPort(t, dsn, p.Addr()),
		QueryTimeout: time.Second, ConnectTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, p
}

// wantUnavailable fails the test unless every store call fails with
// EUNAVAILABLE, each within limit.
func wantUnavailable(t *testing.T, d *DB, limit time.Duration) {
	t.Helper()
	calls := map[string]func() error{
		"ping": func() error { return d.Ping(t.Context()) },
		"read": func() error { _, err := d.Tenant(t.Context(), otos.DefaultTenantID); return err },
		"list": func() error { _, _, err := d.Devices(t.Context(), otos.DeviceFilter{}); return err },
		"write": func() error {
			return d.CreateTenant(t.Context(), &otos.Tenant{ID: "t-" + time.Now().String(), Name: "x", CreatedAt: time.Now()})
		},
		// A batch of the group commit fails at once, not one row after another.
		"device-batch": func() error {
			tag := time.Now().Format("150405.000000000")
			errs := runBatch(d, batchDevice("tpl", "a"+tag, "a"+tag), batchDevice("tpl", "b"+tag, "b"+tag),
				batchDevice("tpl", "c"+tag, "c"+tag))
			for _, err := range errs[1:] {
				if otos.ErrorCode(err) != otos.ErrorCode(errs[0]) {
					return err
				}
			}
			return errs[0]
		},
	}
	for name, call := range calls {
		start := time.Now()
		err := call()
		if took := time.Since(start); took > limit {
			t.Errorf("%s took %v, want at most %v", name, took, limit)
		}
		if code, msg := otos.ErrorCode(err), otos.ErrorMessage(err); code != otos.EUNAVAILABLE || msg != "store unavailable" {
			t.Errorf("%s: code %q, message %q (%v); want %q, \"store unavailable\"", name, code, msg, err, otos.EUNAVAILABLE)
		}
	}
}

// wantBack fails the test unless the store answers again within 10 s.
func wantBack(t *testing.T, d *DB) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for d.Ping(t.Context()) != nil {
		if time.Now().After(deadline) {
			t.Fatal("the store did not recover within 10s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := d.Tenant(t.Context(), otos.DefaultTenantID); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
}

func TestOutage(t *testing.T) {
	d, p := openBehind(t, pgtest.Schema(t))
	batchTemplate(t, d, "tpl", 0)
	// A write acknowledged before the outage survives it.
	tn := &otos.Tenant{ID: "before", Name: "before", CreatedAt: time.Now()}
	if err := d.CreateTenant(t.Context(), tn); err != nil {
		t.Fatal(err)
	}
	t.Run("down", func(t *testing.T) {
		p.Down()
		wantUnavailable(t, d, 2*time.Second)
		p.Up()
		wantBack(t, d)
	})
	t.Run("stalled", func(t *testing.T) {
		// The network drops everything: calls end at the query timeout.
		p.Stall()
		wantUnavailable(t, d, 2*time.Second)
		p.Up()
		wantBack(t, d)
	})
	if _, err := d.Tenant(t.Context(), tn.ID); err != nil {
		t.Errorf("the tenant written before the outage: %v", err)
	}
}

func TestNotify(t *testing.T) {
	dsn := pgtest.Schema(t)
	a, b := mustOpen(t, dsn), mustOpen(t, dsn)
	other := mustOpen(t, pgtest.Schema(t)) // another schema: another channel
	got := map[string]chan string{"a": make(chan string, 10), "b": make(chan string, 10), "other": make(chan string, 10)}
	a.Subscribe(func(m string) { got["a"] <- m })
	b.Subscribe(func(m string) { got["b"] <- m })
	other.Subscribe(func(m string) { got["other"] <- m })
	// Subscribe returns before the listener listens: publish until heard.
	deadline := time.Now().Add(5 * time.Second)
	for heard := false; !heard; {
		if time.Now().After(deadline) {
			t.Fatal("B heard nothing from A within 5s")
		}
		if err := a.Publish(t.Context(), "drop x"); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-got["b"]:
			if m != "drop x" {
				t.Fatalf("B got %q, want %q", m, "drop x")
			}
			heard = true
		case <-time.After(100 * time.Millisecond):
		}
	}
	select {
	case m := <-got["a"]:
		t.Errorf("A heard its own message %q", m)
	case m := <-got["other"]:
		t.Errorf("a store on another schema heard %q", m)
	case <-time.After(200 * time.Millisecond):
	}
}

func TestNotifyReconnects(t *testing.T) {
	dsn := pgtest.Schema(t)
	a := mustOpen(t, dsn)
	b, p := openBehind(t, dsn)
	got := make(chan string, 100)
	b.Subscribe(func(m string) { got <- m })
	listening := func() {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			if time.Now().After(deadline) {
				t.Fatal("B's listener heard nothing within 10s")
			}
			if err := a.Publish(t.Context(), "forget y"); err != nil {
				t.Fatal(err)
			}
			select {
			case m := <-got:
				if m == "forget y" {
					return
				}
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	listening()
	// The listener loses its connection: B keeps what it holds while the
	// database is away, and is told that it may have missed messages when
	// it listens again.
	p.Down()
	select {
	case m := <-got:
		t.Fatalf("while the database is away: got %q, want nothing", m)
	case <-time.After(500 * time.Millisecond):
	}
	p.Up()
	select {
	case m := <-got:
		if m != "" {
			t.Fatalf("listening again: got %q, want \"\"", m)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the listener did not listen again within 15s")
	}
	listening()
}
