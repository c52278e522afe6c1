package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/otos-iot/otos"
	"github.com/otos-iot/otos/sqlite"
)

// TestKillDuringRegistrationStorm kills otos with SIGKILL in the middle of a
// registration storm and checks that every device whose voucher was
// returned is in the database after the crash, with that voucher valid.
func TestKillDuringRegistrationStorm(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the binary")
	}
	bin := buildOtos(t)
	data := filepath.Join(t.TempDir(), "data")
	const token = "durability-test-token-0123456789"
	cmd := exec.Command(bin, "serve", "--data", data, "--http", "127.0.0.1:0", "--mqtt", "")
	cmd.Env = append(os.Environ(), "OTOS_ADMIN_TOKEN="+token)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	s := &testServer{URL: waitServing(t, stderr), Token: token}
	tp := s.createTemplate(t, nil)

	// The storm: 16 clients register new devices until the server dies.
	type issued struct{ number, user, pass string }
	var mu sync.Mutex
	var acked []issued
	var wg sync.WaitGroup
	ctx, stop := context.WithCancel(context.Background())
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				number := fmt.Sprintf("kill-%d-%d", w, i)
				res, b, err := post(s.URL+"/api/v1/device/auth", `{"template_secret":"`+tp.Secret+`","device_number":"`+number+`"}`)
				if err != nil || res != 200 {
					continue // the server is dying: not acknowledged
				}
				var env envelope
				var v voucher
				if json.Unmarshal(b, &env) != nil || env.Data == nil || json.Unmarshal([]byte(env.Data.Voucher), &v) != nil {
					continue
				}
				mu.Lock()
				acked = append(acked, issued{number, v.Username, v.Password})
				mu.Unlock()
			}
		}()
	}
	time.Sleep(700 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	stop()
	wg.Wait()
	if len(acked) < 50 {
		t.Fatalf("only %d registrations acknowledged before the kill: the storm did not run", len(acked))
	}

	db, err := sqlite.Open(filepath.Join(data, "otos.db"))
	if err != nil {
		t.Fatalf("open the database after the kill: %v", err)
	}
	defer db.Close()
	for _, a := range acked {
		d, err := db.DeviceByCredential(context.Background(), otos.VoucherLookup(a.user))
		if err != nil || d.DeviceNumber != a.number || !d.Credential.CheckPassword(a.pass) {
			t.Errorf("acknowledged device %s lost or its voucher invalid after SIGKILL: %v", a.number, err)
		}
	}
	t.Logf("%d acknowledged registrations, all present after SIGKILL", len(acked))
}

// post sends a JSON body and returns the status and body, or the error.
func post(url, body string) (int, []byte, error) {
	res, err := httpClient.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := readAll(res.Body)
	return res.StatusCode, b, err
}

// TestKillBetweenChangeAndDelivery kills otos with SIGKILL while the events
// of a registration storm are on their way to a webhook that does not
// answer, then starts it again: the webhook receives the event of every
// acknowledged registration, and no event of a device that does not exist.
func TestKillBetweenChangeAndDelivery(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the binary")
	}
	bin := buildOtos(t)
	data := filepath.Join(t.TempDir(), "data")
	const token = "durability-test-token-0123456789"
	start := func() (*exec.Cmd, *testServer) {
		cmd := exec.Command(bin, "serve", "--data", data, "--http", "127.0.0.1:0", "--mqtt", "", "--webhook-allow-private")
		cmd.Env = append(os.Environ(), "OTOS_ADMIN_TOKEN="+token)
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		return cmd, &testServer{URL: waitServing(t, stderr), Token: token}
	}
	cmd, s := start()
	rcv := newReceiver(t)
	released := make(chan struct{})
	rcv.fail = func(*otos.Event) (int, time.Duration) {
		<-released // no answer while otos is killed
		return http.StatusServiceUnavailable, 0
	}
	tp := s.createTemplate(t, nil)
	rcv.createWebhook(t, s, "device.registered")

	var mu sync.Mutex
	var acked []string
	var wg sync.WaitGroup
	ctx, stop := context.WithCancel(context.Background())
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				number := fmt.Sprintf("evkill-%d-%d", w, i)
				if res, _, err := post(s.URL+"/api/v1/device/auth", authBody(tp.Secret, number)); err == nil && res == 200 {
					mu.Lock()
					acked = append(acked, number)
					mu.Unlock()
				}
			}
		})
	}
	time.Sleep(700 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	stop()
	wg.Wait()
	if len(acked) < 20 {
		t.Fatalf("only %d registrations acknowledged before the kill", len(acked))
	}

	rcv.mu.Lock()
	rcv.fail = nil // the endpoint is back, with otos
	rcv.mu.Unlock()
	close(released)
	_, s = start()
	got := map[string]bool{}
	deadline := time.Now().Add(20 * time.Second)
	for {
		rcv.mu.Lock()
		for _, e := range rcv.events {
			var d otos.EventData
			_ = json.Unmarshal(e.Data, &d)
			got[d.DeviceNumber] = true
		}
		rcv.mu.Unlock()
		missing := 0
		for _, n := range acked {
			if !got[n] {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d acknowledged registrations never reached the webhook", missing, len(acked))
		}
		time.Sleep(100 * time.Millisecond)
	}
	for n := range got {
		var list struct{ Items []json.RawMessage }
		s.admin(t, "GET", "/api/v1/devices?device_number="+n, nil, 200, &list)
		if len(list.Items) != 1 {
			t.Errorf("an event for device %s, which does not exist", n)
		}
	}
	t.Logf("%d acknowledged registrations, %d devices with events after SIGKILL", len(acked), len(got))
}
