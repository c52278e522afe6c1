package main

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otos-iot/otos"
	"github.com/otos-iot/otos/device"
)

// rotateHTTP posts a rotation with v as Basic credentials and returns the
// status and the decoded answer.
func (s *testServer) rotateHTTP(t *testing.T, v voucher) (int, rotated) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+"/api/v1/device/voucher/rotate", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(v.Username, v.Password)
	res, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var r rotated
	if err := json.NewDecoder(res.Body).Decode(&r); err != nil {
		t.Fatalf("rotation answer: %v", err)
	}
	return res.StatusCode, r
}

// rotated is the answer to a rotation (or a registration) with its extra
// fields.
type rotated struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    *struct {
		DeviceID      string     `json:"device_id"`
		Voucher       string     `json:"voucher"`
		ExpiresAt     *time.Time `json:"expires_at"`
		PreviousUntil *time.Time `json:"previous_voucher_until"`
	} `json:"data"`
}

// voucher decodes the answer's voucher.
func (r rotated) voucher(t *testing.T) voucher {
	t.Helper()
	if r.Data == nil {
		t.Fatalf("no voucher in %+v", r)
	}
	var v voucher
	if err := json.Unmarshal([]byte(r.Data.Voucher), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// lostWithin reports whether c's connection drops within d.
func (c *client3) lostWithin(d time.Duration) bool {
	select {
	case <-c.lost:
		return true
	case <-time.After(d):
		return false
	}
}

// TestRotationLive: a device rotates under a live connection; the old
// voucher keeps working until the new one connects, then its sessions are
// closed and it is refused; two racing rotations give one winner; over
// MQTT the device rotates on its own topic pair.
func TestRotationLive(t *testing.T) {
	s := startBroker(t, nil)
	url := "tcp://" + s.MQTTAddr()
	tpl := s.createTemplate(t, map[string]any{"rotation_overlap_seconds": 3600})
	_, old := s.register(t, tpl.Secret, "rot-live-1")
	first, err := connect3(t, url, "rot-live-1", old.Username, old.Password, nil)
	if err != nil {
		t.Fatal(err)
	}

	// Two rotations race with the same voucher: one winner, one clear answer.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var wins []rotated
	codes := map[int]int{}
	for range 2 {
		wg.Go(func() {
			status, r := s.rotateHTTP(t, old)
			mu.Lock()
			defer mu.Unlock()
			codes[r.Code]++
			if status == http.StatusOK {
				wins = append(wins, r)
			} else if status != http.StatusConflict {
				t.Errorf("losing rotation: status %d, %+v", status, r)
			}
		})
	}
	wg.Wait()
	if len(wins) != 1 || codes[200] != 1 || codes[otos.EROTATED.Number()] != 1 {
		t.Fatalf("racing rotations: codes %v, want one 200 and one %d", codes, otos.EROTATED.Number())
	}
	if p := wins[0].Data.PreviousUntil; p == nil || time.Until(*p) < 59*time.Minute {
		t.Fatalf("previous voucher until %v, want an hour", p)
	}
	fresh := wins[0].voucher(t)

	// Inside the overlap the old voucher's session lives on, and it may
	// connect again.
	if first.lostWithin(300 * time.Millisecond) {
		t.Fatal("the rotation closed the session of the old voucher")
	}
	second, err := connect3(t, url, "rot-live-1/b", old.Username, old.Password, nil)
	if err != nil {
		t.Fatalf("old voucher inside its overlap: %v", err)
	}
	// The new voucher's first CONNECT closes both, and voids the old one.
	third, err := connect3(t, url, "rot-live-1/c", fresh.Username, fresh.Password, nil)
	if err != nil {
		t.Fatalf("new voucher: %v", err)
	}
	if !first.lostWithin(2*time.Second) || !second.lostWithin(2*time.Second) {
		t.Fatal("the old voucher's sessions outlived the new voucher's first connection")
	}
	if third.lostWithin(300 * time.Millisecond) {
		t.Fatal("the new voucher's session was closed too")
	}
	if _, err := connect3(t, url, "rot-live-1/d", old.Username, old.Password, nil); err == nil {
		t.Fatal("old voucher connected after the new one was used")
	}

	// Over MQTT: the device's own request and response topics.
	if code := third.subscribe(t, otos.RotateResponsePrefix+"r1"); code == 0x80 {
		t.Fatal("subscribing to its rotation answer was refused")
	}
	if tok := third.Publish(otos.RotatePrefix+"r1", 1, false, "{}"); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish rotation request: %v", tok.Error())
	}
	m, ok := third.received(otos.RotateResponsePrefix+"r1", 5*time.Second)
	if !ok {
		t.Fatal("no answer to the rotation over MQTT")
	}
	var r rotated
	if err := json.Unmarshal(m.Payload(), &r); err != nil || r.Code != 200 {
		t.Fatalf("rotation over MQTT: %s", m.Payload())
	}
	over := r.voucher(t)
	if _, err := connect3(t, url, "rot-live-1/e", over.Username, over.Password, nil); err != nil {
		t.Fatalf("voucher rotated over MQTT: %v", err)
	}
	// Another device cannot rotate by publishing on a number of its own choice
	// nor read others' answers: the answer goes to the requesting client only.
	_, v2 := s.register(t, tpl.Secret, "rot-live-2")
	other, err := connect3(t, url, "rot-live-2", v2.Username, v2.Password, nil)
	if err != nil {
		t.Fatal(err)
	}
	other.subscribe(t, otos.RotateResponsePrefix+"r1")
	if _, ok := other.received(otos.RotateResponsePrefix+"r1", 300*time.Millisecond); ok {
		t.Fatal("another device received a rotation answer")
	}
}

// TestRotationNotice: an operator's request reaches a connected device on
// its control topic, and a device that subscribes later hears it too.
func TestRotationNotice(t *testing.T) {
	s := startBroker(t, nil)
	url := "tcp://" + s.MQTTAddr()
	tpl := s.createTemplate(t, nil)
	id, v := s.register(t, tpl.Secret, "notice-1")
	live, err := connect3(t, url, "notice-1", v.Username, v.Password, nil)
	if err != nil {
		t.Fatal(err)
	}
	control := otos.ControlTopic("notice-1")
	if code := live.subscribe(t, control); code == 0x80 {
		t.Fatal("control topic refused")
	}
	var answer struct {
		Devices  int64      `json:"devices"`
		Deadline *time.Time `json:"deadline"`
	}
	s.admin(t, "POST", "/api/v1/rotation-requests", map[string]any{"template_id": tpl.ID, "deadline_in": "2h"}, http.StatusOK, &answer)
	if answer.Devices != 1 || answer.Deadline == nil {
		t.Fatalf("rotation request answer %+v", answer)
	}
	m, ok := live.received(control, 2*time.Second)
	if !ok {
		t.Fatal("the connected device was not told")
	}
	var n otos.ControlNotice
	if err := json.Unmarshal(m.Payload(), &n); err != nil || n.Action != otos.ActionRotateVoucher || n.Deadline == nil {
		t.Fatalf("notice %s", m.Payload())
	}
	live.Disconnect(0)
	// Connecting later, the device hears it when it subscribes.
	later, err := connect3(t, url, "notice-1", v.Username, v.Password, nil)
	if err != nil {
		t.Fatal(err)
	}
	later.subscribe(t, control)
	if _, ok := later.received(control, 2*time.Second); !ok {
		t.Fatal("a device connecting after the request was not told")
	}
	// Another device's control topic is not its own.
	if code := later.subscribe(t, otos.ControlTopic("someone-else")); code != 0x80 {
		t.Fatal("a device subscribed to another's control topic")
	}
	var d otos.Device
	s.admin(t, "GET", "/api/v1/devices/"+id, nil, http.StatusOK, &d)
	if d.RotationRequestedAt == nil || d.VoucherExpiresAt == nil {
		t.Fatalf("device after the request: %+v", d)
	}
	if status, r := s.rotateHTTP(t, v); status != http.StatusOK {
		t.Fatalf("rotation: %d %+v", status, r)
	}
	s.admin(t, "GET", "/api/v1/devices/"+id, nil, http.StatusOK, &d)
	if d.RotationRequestedAt != nil || d.VoucherExpiresAt != nil {
		t.Fatalf("rotation did not clear the request and the deadline: %+v", d)
	}
}

// TestVoucherExpiry: a template's lifetime shows in the answer (not under
// --compat-thingspanel, whose answer keeps ThingsPanel's fields only), an
// expired voucher's CONNECT is refused and audited, and the stragglers are
// listed.
func TestVoucherExpiry(t *testing.T) {
	clock := &testClock{t: time.Now().UTC().Truncate(time.Second)}
	s := startBroker(t, func(c *Config) { c.Now = clock.Now })
	tpl := s.createTemplate(t, map[string]any{"voucher_lifetime_seconds": 7 * 86400})
	status, env := s.auth(t, map[string]string{"template_secret": tpl.Secret, "device_number": "exp-1"})
	if status != http.StatusOK {
		t.Fatal(env)
	}
	res, b := do(t, "POST", s.URL+"/api/v1/device/auth", fmt.Sprintf(`{"template_secret":%q,"device_number":"exp-2"}`, tpl.Secret))
	if res.StatusCode != http.StatusOK || !strings.Contains(string(b), `"expires_at":"`) {
		t.Fatalf("answer without expires_at: %s", b)
	}
	var r rotated
	_ = json.Unmarshal(b, &r)
	if want := clock.Now().Add(7 * 24 * time.Hour); r.Data.ExpiresAt == nil || !r.Data.ExpiresAt.Equal(want) {
		t.Fatalf("expires_at %v, want %v", r.Data.ExpiresAt, want)
	}
	v := r.voucher(t)

	var list struct {
		Items []otos.Device `json:"items"`
	}
	s.admin(t, "GET", "/api/v1/devices?expiring_within=6d", nil, http.StatusOK, &list)
	if len(list.Items) != 0 {
		t.Fatalf("%d devices expiring within 6 days, want none", len(list.Items))
	}
	s.admin(t, "GET", "/api/v1/devices?expiring_within=8d", nil, http.StatusOK, &list)
	if len(list.Items) != 2 {
		t.Fatalf("%d devices expiring within 8 days, want 2", len(list.Items))
	}
	res, _ = do(t, "GET", s.URL+"/api/v1/devices?expiring_within=soon", "", "Authorization", "Bearer "+s.Token)
	if res.StatusCode != http.StatusBadRequest {
		t.Fatalf("expiring_within=soon: status %d", res.StatusCode)
	}

	clock.Advance(7*24*time.Hour + time.Second)
	if _, err := connect3(t, "tcp://"+s.MQTTAddr(), "exp-2", v.Username, v.Password, nil); err == nil ||
		!strings.Contains(err.Error(), "password") {
		t.Fatalf("expired voucher: %v, want bad username or password", err)
	}
	if status, r := s.rotateHTTP(t, v); status != http.StatusUnauthorized || r.Code != otos.EEXPIRED.Number() {
		t.Fatalf("rotating an expired voucher: %d %+v", status, r)
	}
	var audit struct {
		Items []otos.AuditRecord `json:"items"`
	}
	s.admin(t, "GET", "/api/v1/audit?device_number=exp-2", nil, http.StatusOK, &audit)
	found := false
	for _, a := range audit.Items {
		found = found || a.Kind == otos.AuditSession && a.Code == otos.EEXPIRED.Number()
	}
	if !found {
		t.Fatalf("the expired CONNECT is not audited: %+v", audit.Items)
	}

	// Under --compat-thingspanel the answer is ThingsPanel's, byte for byte.
	compat := startServer(t, "", func(c *Config) { c.Compat = true })
	ct := compat.createTemplate(t, map[string]any{"voucher_lifetime_seconds": 86400})
	res, b = do(t, "POST", compat.URL+"/api/v1/device/auth", fmt.Sprintf(`{"template_secret":%q,"device_number":"tp-1"}`, ct.Secret))
	var raw struct {
		Data map[string]json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(b, &raw); err != nil || res.StatusCode != http.StatusOK || len(raw.Data) != 2 ||
		raw.Data["device_id"] == nil || raw.Data["voucher"] == nil {
		t.Fatalf("compat answer %s, want data with device_id and voucher only", b)
	}
}

// TestFleetRenewal: 1,000 devices of a template with a 30-day lifetime,
// registered within the same minute, renew through the device library
// spread over the window around two thirds of the lifetime, not at once;
// with the server's clock moved through the window, every renewal succeeds
// and no voucher expires.
func TestFleetRenewal(t *testing.T) {
	const fleet = 1000
	const lifetime = 30 * 24 * time.Hour
	clock := &testClock{t: time.Now().UTC().Truncate(time.Second)}
	// What is measured is the spread, not the disk: on a RAM disk where
	// there is one, 3,000 synced writes take a second instead of ten.
	dir := ramDir(t)
	s := startServer(t, filepath.Join(dir, "server"), func(c *Config) { c.Now = clock.Now })
	tpl := s.createTemplate(t, map[string]any{"voucher_lifetime_seconds": int64(lifetime / time.Second)})
	rng := rand.New(rand.NewPCG(1, 2))
	cfgs := make([]device.Config, fleet)
	renewAt := make([]time.Time, fleet)
	jitter := make([]float64, fleet)
	for i := range cfgs {
		u := rng.Float64()
		jitter[i] = u
		cfgs[i] = device.Config{Server: s.URL, TemplateSecret: tpl.Secret, DeviceNumber: fmt.Sprintf("fleet-%04d", i),
			CachePath: filepath.Join(dir, fmt.Sprintf("%04d.json", i)), Now: clock.Now, Jitter: func() float64 { return u }}
	}
	inParallel(fleet, func(i int) error {
		v, err := device.Provision(t.Context(), cfgs[i])
		if err == nil && v.ExpiresAt.IsZero() {
			err = fmt.Errorf("the library did not keep the voucher's expiry")
		}
		if err == nil {
			renewAt[i] = v.RenewAt(jitter[i])
		}
		return err
	}, t)
	// The renewals spread over the window: two thirds of the lifetime, give
	// or take a twelfth, and no hour of it holds more than 2% of the fleet.
	start := clock.Now()
	lo, hi := start.Add(lifetime*2/3-lifetime/12-time.Minute), start.Add(lifetime*2/3+lifetime/12+time.Minute)
	perHour := map[int64]int{}
	for _, at := range renewAt {
		if at.Before(lo) || at.After(hi) {
			t.Fatalf("renewal at %v, outside %v..%v", at, lo, hi)
		}
		perHour[at.Unix()/3600]++
	}
	for h, n := range perHour {
		if n > fleet/50 {
			t.Fatalf("%d renewals in the hour %v: the fleet renews in a burst", n, time.Unix(h*3600, 0).UTC())
		}
	}
	if len(perHour) < 100 {
		t.Fatalf("renewals in only %d distinct hours", len(perHour))
	}
	// Move the clock through the window, in six-hour steps; each device
	// renews once its time has come.
	renewed := make([]bool, fleet)
	for clock.Now().Before(hi) {
		clock.Advance(6 * time.Hour)
		inParallel(fleet, func(i int) error {
			if renewed[i] || clock.Now().Before(renewAt[i]) {
				return nil
			}
			v, err := device.Rotate(t.Context(), cfgs[i])
			if err != nil {
				return fmt.Errorf("device %d renewal at %v: %w", i, clock.Now(), err)
			}
			if want := clock.Now().Add(lifetime); !v.ExpiresAt.Equal(want) {
				return fmt.Errorf("renewed voucher expires %v, want %v", v.ExpiresAt, want)
			}
			renewed[i] = true
			return nil
		}, t)
	}
	var list struct {
		Items []otos.Device `json:"items"`
	}
	s.admin(t, "GET", "/api/v1/devices?expiring_within=1d&limit=1000", nil, http.StatusOK, &list)
	if len(list.Items) != 0 {
		t.Fatalf("%d vouchers expire within a day after the renewals", len(list.Items))
	}
}

// inParallel runs fn for 0..n-1 on 16 workers and fails t with the first
// error.
func inParallel(n int, fn func(i int) error, t *testing.T) {
	t.Helper()
	next := make(chan int)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for i := range next {
				if err := fn(i); err != nil {
					errs <- err
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
}

// ramDir returns a new directory on /dev/shm when the machine has one, else
// in the test's temporary directory; removed at the end of the test.
func ramDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/dev/shm", "otos-test-")
	if err != nil {
		return t.TempDir()
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// TestHardwareRecovery: under reregistration "hardware", a device that lost
// its voucher in a factory reset registers again with its hardware identity
// and an Ed25519 key kept in its secure element, and connects with a fresh
// voucher, though it had connected before; a clone with another identity,
// or the right identity with a wrong key, is refused, audited and told as
// an event.
func TestHardwareRecovery(t *testing.T) {
	s := startBroker(t, nil)
	tpl := s.createTemplate(t, map[string]any{"reregistration": "hardware"})
	_, key, _ := ed25519.GenerateKey(nil)
	cfg := device.Config{Server: s.URL, Broker: s.MQTTAddr(), TemplateSecret: tpl.Secret, DeviceNumber: "hw-e2e-1",
		CachePath: filepath.Join(t.TempDir(), "voucher.json"), HardwareID: "chip-00:11:22", HardwareKey: key}
	sess, err := device.Connect(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	before := sess.Voucher()
	sess.Close()

	// A factory reset wipes the cache; the secure element keeps the key.
	if err := device.Forget(cfg); err != nil {
		t.Fatal(err)
	}
	sess, err = device.Connect(t.Context(), cfg)
	if err != nil {
		t.Fatalf("recovery after a factory reset: %v", err)
	}
	if after := sess.Voucher(); after.Username == before.Username || after.DeviceID != before.DeviceID {
		t.Fatalf("recovered voucher %v, before %v: want a new voucher for the same device", after, before)
	}
	if _, err := connect3(t, "tcp://"+s.MQTTAddr(), "hw-e2e-1/old", before.Username, before.Password, nil); err == nil {
		t.Fatal("the voucher from before the reset still connects")
	}

	refused := func(edit func(*device.Config), code otos.Code) {
		t.Helper()
		c := cfg
		c.CachePath = filepath.Join(t.TempDir(), "clone.json")
		edit(&c)
		_, err := device.Provision(t.Context(), c)
		var ae *device.AuthError
		if !errors.As(err, &ae) || ae.Code != code.Number() {
			t.Fatalf("registration: %v, want code %d", err, code.Number())
		}
	}
	_, wrong, _ := ed25519.GenerateKey(nil)
	refused(func(c *device.Config) { c.HardwareID = "chip-ff:ff:ff" }, otos.EHARDWARE)
	refused(func(c *device.Config) { c.HardwareKey = wrong }, otos.EBADSIGNATURE)
	refused(func(c *device.Config) { c.HardwareKey = nil }, otos.EBADSIGNATURE)
	refused(func(c *device.Config) { c.HardwareID, c.HardwareKey = "", nil }, otos.EHARDWARE)
	// None of it touched the device.
	if err := sess.PublishTelemetry(t.Context(), []byte(`{"ok":1}`)); err != nil {
		t.Fatal(err)
	}

	var events struct {
		Items []otos.Event `json:"items"`
	}
	s.admin(t, "GET", "/api/v1/events?limit=1000", nil, http.StatusOK, &events)
	mismatches := 0
	for _, e := range events.Items {
		if e.Type == otos.EventHardwareMismatch {
			mismatches++
		}
	}
	if mismatches != 2 {
		t.Fatalf("%d device.hardware_mismatch events, want 2 (the other chip, and no chip)", mismatches)
	}
	var audit struct {
		Items []otos.AuditRecord `json:"items"`
	}
	s.admin(t, "GET", "/api/v1/audit?device_number=hw-e2e-1", nil, http.StatusOK, &audit)
	clones := 0
	for _, a := range audit.Items {
		if a.Code == otos.EHARDWARE.Number() {
			clones += a.Count
		}
	}
	if clones != 2 {
		t.Fatalf("%d audited clone registrations, want 2", clones)
	}
}
