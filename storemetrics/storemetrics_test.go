package storemetrics_test

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/otos-iot/otos"
	"github.com/otos-iot/otos/sqlite"
	"github.com/otos-iot/otos/storemetrics"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// openStore returns a SQLite store in a temp dir, observed on a new
// registry, and the raw store underneath.
func openStore(t *testing.T) (*storemetrics.Store, *sqlite.DB, *prometheus.Registry) {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "otos.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	reg := prometheus.NewRegistry()
	return storemetrics.New(db, reg), db, reg
}

// sample returns the metric of family name whose labels are labels: its
// histogram's count or its counter's value; -1 when there is none.
func sample(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if !hasLabels(m, labels) {
				continue
			}
			if h := m.GetHistogram(); h != nil {
				return float64(h.GetSampleCount())
			}
			return m.GetCounter().GetValue()
		}
	}
	return -1
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	got := map[string]string{}
	for _, l := range m.GetLabel() {
		got[l.GetName()] = l.GetValue()
	}
	return reflect.DeepEqual(got, want)
}

// TestStoreMetricsRecordCalls: every call is timed, a failure of the store is
// counted by its code, and answers (not found) and calls the caller gave up
// on are not failures.
func TestStoreMetricsRecordCalls(t *testing.T) {
	s, db, reg := openStore(t)
	ctx := context.Background()
	tenant := &otos.Tenant{ID: "t-1", Name: "Acme", CreatedAt: time.Now()}
	if err := s.CreateTenant(ctx, tenant); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Tenant(ctx, "t-1"); err != nil || got.Name != "Acme" {
		t.Fatalf("Tenant through the wrapper: %+v, %v", got, err)
	}
	if _, err := s.Tenant(ctx, "nobody"); otos.ErrorCode(err) != otos.ENOTFOUND {
		t.Fatalf("missing tenant: %v, want not found", err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Tenant(canceled, "t-1"); err == nil {
		t.Fatal("a canceled call succeeded")
	}
	db.Close() // the store goes away under the wrapper
	if err := s.Ping(ctx); otos.ErrorCode(err) != otos.EUNAVAILABLE {
		t.Fatalf("Ping of a closed store: %v, want unavailable", err)
	}

	for _, c := range []struct {
		name   string
		metric string
		labels map[string]string
		want   float64
	}{
		{"duration/create", "otos_store_duration_seconds", map[string]string{"op": "CreateTenant"}, 1},
		{"duration/read-found-missing-canceled", "otos_store_duration_seconds", map[string]string{"op": "Tenant"}, 3},
		{"duration/ping", "otos_store_duration_seconds", map[string]string{"op": "Ping"}, 1},
		{"errors/ping-unavailable", "otos_store_errors_total", map[string]string{"op": "Ping", "code": "unavailable"}, 1},
		{"errors/not-found-is-an-answer", "otos_store_errors_total", map[string]string{"op": "Tenant", "code": "unavailable"}, 0},
		{"errors/canceled-is-not-internal", "otos_store_errors_total", map[string]string{"op": "Tenant", "code": "internal"}, 0},
		{"errors/zero-before-any-call", "otos_store_errors_total", map[string]string{"op": "CreateDevice", "code": "internal"}, 0},
		{"errors/no-not-found-series", "otos_store_errors_total", map[string]string{"op": "Tenant", "code": "not_found"}, -1},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := sample(t, reg, c.metric, c.labels); got != c.want {
				t.Errorf("%s%v = %v, want %v", c.metric, c.labels, got, c.want)
			}
		})
	}
	if s.Unwrap() != otos.Store(db) {
		t.Error("Unwrap does not return the wrapped store")
	}
}

// TestStoreMetricsNameEachOp: each method passes its own name to observe, first
// thing, so that op labels say which method was slow.
func TestStoreMetricsNameEachOp(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "store.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Recv == nil {
			continue
		}
		name := fn.Name.Name
		seen[name] = true
		def, ok := fn.Body.List[0].(*ast.DeferStmt)
		if !ok {
			t.Errorf("%s: the first statement is not the deferred observe", name)
			continue
		}
		if lit, _ := def.Call.Args[0].(*ast.BasicLit); lit == nil || lit.Value != strconv.Quote(name) {
			t.Errorf("%s does not observe itself as %q", name, name)
		}
	}
	store := reflect.TypeFor[otos.Store]()
	for i := range store.NumMethod() {
		if m := store.Method(i).Name; !seen[m] {
			t.Errorf("store.go has no method %s", m)
		}
	}
}
