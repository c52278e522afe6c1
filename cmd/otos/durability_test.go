package main

import (
	"context"
	"encoding/json"
	"fmt"
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
