package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/otos-iot/otos"
)

func testDeviceCap(t *testing.T, s otos.Store) {
	t.Run("count-and-cap", func(t *testing.T) {
		tpl, _ := newTemplate(t, s, otos.DefaultTenantID, otos.DeviceDirect)
		tpl.MaxDevices = 3
		must(t, s.UpdateTemplate(t.Context(), tpl))
		var made []*otos.Device
		for range 3 {
			made = append(made, newDevice(t, s, tpl, nil))
		}
		err := s.CreateDevice(t.Context(), deviceOf(tpl))
		wantField(t, err, otos.ECONFLICT, "max_devices")
		got, err := s.Template(t.Context(), tpl.ID)
		must(t, err)
		if got.DeviceCount != 3 {
			t.Errorf("DeviceCount = %d, want 3", got.DeviceCount)
		}
		// Deleting a device frees a place.
		must(t, s.DeleteDevice(t.Context(), made[0].ID))
		newDevice(t, s, tpl, nil)
		// A conflict on the number does not count.
		dup := deviceOf(tpl)
		dup.DeviceNumber = made[1].DeviceNumber
		wantCode(t, s.CreateDevice(t.Context(), dup), otos.ECONFLICT)
		got, err = s.Template(t.Context(), tpl.ID)
		must(t, err)
		if got.DeviceCount != 3 {
			t.Errorf("DeviceCount after delete and insert = %d, want 3", got.DeviceCount)
		}
	})
	t.Run("cap/concurrent", func(t *testing.T) {
		tpl, _ := newTemplate(t, s, otos.DefaultTenantID, otos.DeviceDirect)
		tpl.MaxDevices = 5
		must(t, s.UpdateTemplate(t.Context(), tpl))
		var wg sync.WaitGroup
		var mu sync.Mutex
		var tally CapTally
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := s.CreateDevice(t.Context(), deviceOf(tpl))
				mu.Lock()
				defer mu.Unlock()
				tally.Add(t, err)
			}()
		}
		wg.Wait()
		tally.Want(t, 5, 15)
	})
}

func testAllowlist(t *testing.T, s otos.Store) {
	tpl, _ := newTemplate(t, s, otos.DefaultTenantID, otos.DeviceDirect)
	other, _ := newTemplate(t, s, otos.DefaultTenantID, otos.DeviceDirect)
	n, err := s.AllowDevices(t.Context(), tpl.ID, []string{"a-1", "a-2", "a-3", "a-2"}, t0)
	must(t, err)
	if n != 3 {
		t.Errorf("AllowDevices added %d, want 3 (one repeat)", n)
	}
	n, err = s.AllowDevices(t.Context(), tpl.ID, []string{"a-3", "a-4"}, t0)
	must(t, err)
	if n != 1 {
		t.Errorf("AllowDevices added %d, want 1", n)
	}
	for number, want := range map[string]bool{"a-1": true, "a-4": true, "a-5": false} {
		got, err := s.Allowed(t.Context(), tpl.ID, number)
		must(t, err)
		if got != want {
			t.Errorf("Allowed(%s) = %v, want %v", number, got, want)
		}
	}
	if got, _ := s.Allowed(t.Context(), other.ID, "a-1"); got {
		t.Error("an allow-list leaks to another template")
	}
	listed := pages(t, 3, func(p otos.Page) ([]string, string, error) {
		return s.Allowlist(t.Context(), tpl.ID, p)
	}, func(n string) string { return n })
	sameIDs(t, listed, []string{"a-1", "a-2", "a-3", "a-4"})
	_, err = s.AllowDevices(t.Context(), newID(), []string{"x"}, t0)
	wantCode(t, err, otos.ENOTFOUND)
	n, err = s.AllowDevices(t.Context(), tpl.ID, nil, t0)
	must(t, err)
	if n != 0 {
		t.Errorf("AllowDevices(nil) = %d", n)
	}
	t.Run("large", func(t *testing.T) {
		numbers := make([]string, 20000)
		for i := range numbers {
			numbers[i] = fmt.Sprintf("bulk-%06d", i)
		}
		n, err := s.AllowDevices(t.Context(), tpl.ID, numbers, t0)
		must(t, err)
		if n != len(numbers) {
			t.Errorf("added %d of %d", n, len(numbers))
		}
	})
}

func testNonces(t *testing.T, s otos.Store) {
	tpl := newID()
	must(t, s.UseNonce(t.Context(), tpl, "nonce-1", at(time.Minute), t0))
	wantCode(t, s.UseNonce(t.Context(), tpl, "nonce-1", at(time.Minute), at(time.Second)), otos.ECONFLICT)
	// Another template may use the same nonce.
	must(t, s.UseNonce(t.Context(), newID(), "nonce-1", at(time.Minute), t0))
	// Once expired, the nonce is free again: outside the window, the
	// timestamp check refuses a replay.
	must(t, s.UseNonce(t.Context(), tpl, "nonce-1", at(3*time.Minute), at(2*time.Minute)))
}

func testAudit(t *testing.T, s otos.Store) {
	tn := newTenant(t, s)
	var want []string
	for i := range 5 {
		r := &otos.AuditRecord{ID: newID(), At: at(time.Duration(i) * time.Minute), Kind: otos.AuditRegistration,
			TenantID: tn.ID, Actor: "127.0.0.1", Action: "device.auth", Code: 200, TemplateID: "tpl-" + tn.ID,
			DeviceNumber: fmt.Sprintf("audit-%d", i%2), ClientAddr: "127.0.0.1"}
		must(t, s.AppendAudit(t.Context(), []*otos.AuditRecord{r}))
		want = append(want, r.ID)
	}
	admin := &otos.AuditRecord{ID: newID(), At: at(10 * time.Minute), Kind: otos.AuditAdmin, TenantID: tn.ID,
		Actor: "bootstrap", Action: "template.create", Code: 201, Target: "x", Detail: "name", Count: 3}
	must(t, s.AppendAudit(t.Context(), []*otos.AuditRecord{admin}))
	want = append(want, admin.ID)
	// A batch written again (its first commit succeeded unseen) is harmless.
	must(t, s.AppendAudit(t.Context(), []*otos.AuditRecord{admin}))

	all := pages(t, 2, func(p otos.Page) ([]*otos.AuditRecord, string, error) {
		return s.Audit(t.Context(), otos.AuditFilter{TenantID: tn.ID, Page: p})
	}, func(r *otos.AuditRecord) string { return r.ID })
	sameIDs(t, all, want)

	got, _, err := s.Audit(t.Context(), otos.AuditFilter{TenantID: tn.ID, DeviceNumber: "audit-1"})
	must(t, err)
	if len(got) != 2 {
		t.Errorf("by device number: %d records, want 2", len(got))
	}
	got, _, err = s.Audit(t.Context(), otos.AuditFilter{TenantID: tn.ID, Since: at(3 * time.Minute)})
	must(t, err)
	if len(got) != 3 {
		t.Errorf("since: %d records, want 3", len(got))
	}
	got, _, err = s.Audit(t.Context(), otos.AuditFilter{TemplateID: "tpl-" + tn.ID})
	must(t, err)
	if len(got) != 5 {
		t.Errorf("by template: %d records, want 5", len(got))
	}
	if g := got[0]; g.Kind != otos.AuditRegistration || g.Actor != "127.0.0.1" || g.Code != 200 || !g.At.Equal(t0) ||
		g.ClientAddr != "127.0.0.1" || g.Count != 1 { // a record written without a count stands for one attempt
		t.Errorf("record read back as %+v", g)
	}
	got, _, err = s.Audit(t.Context(), otos.AuditFilter{TenantID: tn.ID, Since: at(10 * time.Minute)})
	must(t, err)
	if len(got) != 1 || got[0].ID != admin.ID || got[0].Count != 3 {
		t.Errorf("admin record read back as %+v, want it with count 3", got)
	}
	n, err := s.PruneAudit(t.Context(), at(2*time.Minute))
	must(t, err)
	if n < 2 {
		t.Errorf("pruned %d, want at least 2", n)
	}
	got, _, err = s.Audit(t.Context(), otos.AuditFilter{TenantID: tn.ID})
	must(t, err)
	if len(got) != 4 {
		t.Errorf("after pruning: %d records, want 4", len(got))
	}
	must(t, s.AppendAudit(t.Context(), nil))
}

func testTenantList(t *testing.T, s otos.Store) {
	var want []string
	for range 3 {
		want = append(want, newTenant(t, s).ID)
	}
	got := pages(t, 2, func(p otos.Page) ([]*otos.Tenant, string, error) {
		return s.Tenants(t.Context(), p)
	}, func(tn *otos.Tenant) string { return tn.ID })
	if len(got) < 4 || got[0] != otos.DefaultTenantID {
		t.Fatalf("tenants %v: want the default tenant first", got)
	}
	sameIDs(t, got[len(got)-3:], want)
}

// CapTally counts the answers to inserts into a template with a cap: the
// devices inserted and those refused for max_devices. Any other answer
// fails the test.
type CapTally struct{ OK, Capped int }

// Add counts err, the answer to one insert.
func (c *CapTally) Add(t testing.TB, err error) {
	t.Helper()
	switch {
	case err == nil:
		c.OK++
	case otos.ErrorCode(err) == otos.ECONFLICT && otos.ErrorField(err) == "max_devices":
		c.Capped++
	default:
		t.Errorf("insert into a capped template: %v", err)
	}
}

// Want fails the test unless ok inserts were made and capped refused.
func (c *CapTally) Want(t testing.TB, ok, capped int) {
	t.Helper()
	if c.OK != ok || c.Capped != capped {
		t.Errorf("%d inserted, %d capped; want %d and %d", c.OK, c.Capped, ok, capped)
	}
}
