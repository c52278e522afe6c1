package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/otos-iot/otos"
)

// testVoucherLife covers what happens to a voucher after registration:
// rotation with an overlap, the overlap's end, forced rotation, expiry and
// the hardware identity of factory-reset recovery.
func testVoucherLife(t *testing.T, s otos.Store) {
	tpl, _ := newTemplate(t, s, otos.DefaultTenantID, otos.DeviceDirect)
	rotation := func(presented []byte, now time.Time) otos.Rotation {
		return otos.Rotation{Presented: presented, New: newCredential(), PreviousUntil: now.Add(24 * time.Hour),
			RetryBefore: now.Add(-otos.RotationRetryGap)}
	}
	found := func(t *testing.T, lookup []byte, id string) *otos.Device {
		t.Helper()
		got, err := s.DeviceByCredential(t.Context(), lookup)
		must(t, err)
		if got.ID != id {
			t.Fatalf("DeviceByCredential = %s, want %s", got.ID, id)
		}
		return got
	}

	t.Run("rotate", func(t *testing.T) {
		d := newDevice(t, s, tpl, nil)
		now := at(time.Hour)
		r := rotation(d.Credential.Lookup, now)
		exp := now.Add(30 * 24 * time.Hour)
		r.ExpiresAt = &exp
		got, err := s.RotateCredential(t.Context(), d.ID, r, now)
		must(t, err)
		want := *d
		want.Credential, want.Previous, want.UpdatedAt = r.New, d.Credential, now
		want.PreviousUntil, want.RotatedAt, want.VoucherExpiresAt = ptr(r.PreviousUntil), ptr(now), &exp
		sameDevice(t, got, &want)
		sameDevice(t, getDevice(t, s, d.ID), &want)
		// Both vouchers find the device during the overlap.
		found(t, r.New.Lookup, d.ID)
		found(t, d.Credential.Lookup, d.ID)

		// The new voucher's first use ends the overlap.
		wantCode(t, s.EndOverlap(t.Context(), d.ID, d.Credential.Lookup, now), otos.ENOTFOUND) // not current
		must(t, s.EndOverlap(t.Context(), d.ID, r.New.Lookup, now.Add(time.Minute)))
		_, err = s.DeviceByCredential(t.Context(), d.Credential.Lookup)
		wantCode(t, err, otos.ENOTFOUND)
		if got := getDevice(t, s, d.ID); !got.Previous.IsZero() || got.PreviousUntil != nil {
			t.Fatalf("previous voucher kept after the overlap ended: %+v", got)
		}
		wantCode(t, s.EndOverlap(t.Context(), d.ID, r.New.Lookup, now), otos.ENOTFOUND) // ended already
		// The old voucher cannot rotate any more.
		_, err = s.RotateCredential(t.Context(), d.ID, rotation(d.Credential.Lookup, at(2*time.Hour)), at(2*time.Hour))
		wantCode(t, err, otos.ECONFLICT)
	})

	t.Run("race", func(t *testing.T) {
		d := newDevice(t, s, tpl, nil)
		now := at(time.Hour)
		const racers = 8
		var mu sync.Mutex
		won, lost := 0, 0
		var wg sync.WaitGroup
		for range racers {
			wg.Go(func() {
				_, err := s.RotateCredential(t.Context(), d.ID, rotation(d.Credential.Lookup, now), now)
				mu.Lock()
				defer mu.Unlock()
				switch otos.ErrorCode(err) {
				case "":
					won++
				case otos.ECONFLICT:
					lost++
				default:
					t.Errorf("RotateCredential: %v", err)
				}
			})
		}
		wg.Wait()
		if won != 1 || lost != racers-1 {
			t.Fatalf("%d rotations won and %d lost, want 1 and %d", won, lost, racers-1)
		}
	})

	t.Run("retry-by-previous", func(t *testing.T) {
		d := newDevice(t, s, tpl, nil)
		now := at(time.Hour)
		first := rotation(d.Credential.Lookup, now)
		_, err := s.RotateCredential(t.Context(), d.ID, first, now)
		must(t, err)
		// Within the retry gap the previous voucher loses: a race.
		soon := now.Add(time.Second)
		_, err = s.RotateCredential(t.Context(), d.ID, rotation(d.Credential.Lookup, soon), soon)
		wantCode(t, err, otos.ECONFLICT)
		// After it, a device that lost the answer rotates again; the
		// previous voucher keeps its overlap.
		later := now.Add(time.Minute)
		retry := rotation(d.Credential.Lookup, later)
		got, err := s.RotateCredential(t.Context(), d.ID, retry, later)
		must(t, err)
		if hexOf(got.Previous.Lookup) != hexOf(d.Credential.Lookup) || !got.PreviousUntil.Equal(first.PreviousUntil) {
			t.Fatalf("previous after a retry = %x until %v, want %x until %v",
				got.Previous.Lookup, got.PreviousUntil, d.Credential.Lookup, first.PreviousUntil)
		}
		_, err = s.DeviceByCredential(t.Context(), first.New.Lookup)
		wantCode(t, err, otos.ENOTFOUND) // the unused voucher of the lost answer is void
		// After the overlap the previous voucher rotates nothing.
		end := first.PreviousUntil
		_, err = s.RotateCredential(t.Context(), d.ID, rotation(d.Credential.Lookup, end), end)
		wantCode(t, err, otos.ECONFLICT)
	})

	t.Run("refused", func(t *testing.T) {
		d := newDevice(t, s, tpl, nil)
		_, err := s.RotateCredential(t.Context(), d.ID, rotation(randomBytes(), t0), t0)
		wantCode(t, err, otos.ECONFLICT)
		_, err = s.SetDeviceStatus(t.Context(), d.ID, otos.StatusDisabled, t0)
		must(t, err)
		_, err = s.RotateCredential(t.Context(), d.ID, rotation(d.Credential.Lookup, t0), t0)
		wantCode(t, err, otos.ECONFLICT)
		_, err = s.RotateCredential(t.Context(), newID(), rotation(d.Credential.Lookup, t0), t0)
		wantCode(t, err, otos.ENOTFOUND)
	})

	t.Run("request", func(t *testing.T) {
		other, _ := newTemplate(t, s, otos.DefaultTenantID, otos.DeviceDirect)
		a, b := newDevice(t, s, other, nil), newDevice(t, s, other, nil)
		early := at(time.Hour)
		c := newDevice(t, s, other, func(d *otos.Device) { d.VoucherExpiresAt = &early })
		elsewhere := newDevice(t, s, tpl, nil)
		deadline := at(48 * time.Hour)
		n, err := s.RequestRotation(t.Context(), otos.RotationScope{TemplateID: other.ID}, &deadline, at(time.Minute))
		must(t, err)
		if n != 3 {
			t.Fatalf("RequestRotation marked %d devices, want 3", n)
		}
		for _, d := range []*otos.Device{a, b} {
			got := getDevice(t, s, d.ID)
			if tsp(got.RotationRequestedAt) != ts(at(time.Minute)) || tsp(got.VoucherExpiresAt) != ts(deadline) {
				t.Fatalf("after a forced rotation: requested %v, expires %v", got.RotationRequestedAt, got.VoucherExpiresAt)
			}
		}
		if got := getDevice(t, s, c.ID); tsp(got.VoucherExpiresAt) != ts(early) {
			t.Fatalf("a deadline moved an earlier expiry to %v", got.VoucherExpiresAt)
		}
		if got := getDevice(t, s, elsewhere.ID); got.RotationRequestedAt != nil {
			t.Fatal("a forced rotation of one template marked a device of another")
		}
		// The device's rotation clears the request.
		r := rotation(a.Credential.Lookup, at(time.Hour))
		got, err := s.RotateCredential(t.Context(), a.ID, r, at(time.Hour))
		must(t, err)
		if got.RotationRequestedAt != nil || got.VoucherExpiresAt != nil {
			t.Fatalf("after rotating: requested %v, expires %v", got.RotationRequestedAt, got.VoucherExpiresAt)
		}
		n, err = s.RequestRotation(t.Context(), otos.RotationScope{DeviceID: b.ID}, nil, at(time.Hour))
		must(t, err)
		if n != 1 {
			t.Fatalf("RequestRotation of one device marked %d", n)
		}
		if got := getDevice(t, s, b.ID); tsp(got.VoucherExpiresAt) != ts(deadline) {
			t.Fatalf("a request without deadline changed the expiry to %v", got.VoucherExpiresAt)
		}
		// Expiring soon, in the list.
		before := at(47 * time.Hour)
		list, _, err := s.Devices(t.Context(), otos.DeviceFilter{TemplateID: other.ID, ExpiringBefore: &before})
		must(t, err)
		if len(list) != 1 || list[0].ID != c.ID {
			t.Fatalf("devices expiring before %v: %d, want only %s", before, len(list), c.ID)
		}
	})

	t.Run("hardware", func(t *testing.T) {
		hw := otos.Hardware{IDHash: randomBytes(), PublicKey: randomBytes()}
		d := newDevice(t, s, tpl, func(d *otos.Device) { d.Hardware = hw })
		if got := getDevice(t, s, d.ID); hexOf(got.Hardware.IDHash) != hexOf(hw.IDHash) {
			t.Fatal("hardware not stored")
		}
		must(t, s.MarkConnected(t.Context(), d.ID, d.Credential.Lookup, t0))
		// Connected: only a recovery by the same hardware re-issues.
		_, err := s.ReissueCredential(t.Context(), d.ID, otos.Reissue{TemplateID: tpl.ID, New: newCredential()}, at(time.Hour))
		wantCode(t, err, otos.ECONFLICT)
		_, err = s.ReissueCredential(t.Context(), d.ID, otos.Reissue{TemplateID: tpl.ID, New: newCredential(), Recover: randomBytes()}, at(time.Hour))
		wantCode(t, err, otos.ECONFLICT)
		c := newCredential()
		exp := at(90 * 24 * time.Hour)
		got, err := s.ReissueCredential(t.Context(), d.ID, otos.Reissue{TemplateID: tpl.ID, New: c, ExpiresAt: &exp, Recover: hw.IDHash}, at(time.Hour))
		must(t, err)
		if hexOf(got.Credential.Lookup) != hexOf(c.Lookup) || tsp(got.VoucherExpiresAt) != ts(exp) || got.FirstConnectedAt == nil {
			t.Fatalf("recovered device: %+v", got)
		}
		_, err = s.DeviceByCredential(t.Context(), d.Credential.Lookup)
		wantCode(t, err, otos.ENOTFOUND)
		// Unbound, it binds the hardware of its next re-issue.
		got, err = s.SetHardware(t.Context(), d.ID, otos.Hardware{}, at(2*time.Hour))
		must(t, err)
		if got.Hardware.Bound() {
			t.Fatal("still bound after unbinding")
		}
		_, err = s.ResetDevice(t.Context(), d.ID, at(3*time.Hour))
		must(t, err)
		other := otos.Hardware{IDHash: randomBytes()}
		got, err = s.ReissueCredential(t.Context(), d.ID, otos.Reissue{TemplateID: tpl.ID, New: newCredential(), OnlyIfVoid: true, Hardware: other}, at(4*time.Hour))
		must(t, err)
		if hexOf(got.Hardware.IDHash) != hexOf(other.IDHash) || got.Hardware.PublicKey != nil {
			t.Fatalf("re-issue bound %x key %x, want %x and no key", got.Hardware.IDHash, got.Hardware.PublicKey, other.IDHash)
		}
		// A bound device keeps its hardware through a re-issue.
		got, err = s.ReissueCredential(t.Context(), d.ID, otos.Reissue{TemplateID: tpl.ID, New: newCredential(), Hardware: hw}, at(5*time.Hour))
		must(t, err)
		if hexOf(got.Hardware.IDHash) != hexOf(other.IDHash) {
			t.Fatal("a re-issue replaced the bound hardware")
		}
	})

	t.Run("reset-drops-previous", func(t *testing.T) {
		d := newDevice(t, s, tpl, nil)
		r := rotation(d.Credential.Lookup, at(time.Hour))
		_, err := s.RotateCredential(t.Context(), d.ID, r, at(time.Hour))
		must(t, err)
		got, err := s.ResetDevice(t.Context(), d.ID, at(2*time.Hour))
		must(t, err)
		if !got.Previous.IsZero() || got.PreviousUntil != nil {
			t.Fatal("a reset kept the previous voucher")
		}
		_, err = s.DeviceByCredential(t.Context(), d.Credential.Lookup)
		wantCode(t, err, otos.ENOTFOUND)
	})
}
