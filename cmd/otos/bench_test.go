package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/otos-iot/otos/bench"
)

// runBenchCLI runs "otos bench" with args against s and returns its stdout
// and stderr.
func (s *testServer) runBenchCLI(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	env := func(k string) string {
		if k == "OTOS_SERVER" {
			return s.URL
		}
		return ""
	}
	err := run(context.Background(), append([]string{"bench"}, args...), &out, &errOut, env)
	return out.String(), errOut.String(), err
}

// benchJSON runs "otos bench --json" and decodes its report.
func (s *testServer) benchJSON(t *testing.T, args ...string) bench.Report {
	t.Helper()
	out, errOut, err := s.runBenchCLI(t, append(args, "--json")...)
	if err != nil {
		t.Fatalf("otos bench %v: %v\n%s", args, err, errOut)
	}
	var rep bench.Report
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("report is not the JSON report: %v\n%s", err, out)
	}
	return rep
}

// deviceNumbers lists the numbers of a template's devices.
func (s *testServer) deviceNumbers(t *testing.T, templateID string) []string {
	t.Helper()
	var page struct {
		Items []struct {
			DeviceNumber string `json:"device_number"`
		} `json:"items"`
		NextCursor string `json:"next_cursor"`
	}
	s.admin(t, "GET", "/api/v1/devices?limit=1000&template_id="+templateID, nil, http.StatusOK, &page)
	if page.NextCursor != "" {
		t.Fatal("more than one page of devices")
	}
	numbers := make([]string, len(page.Items))
	for i, d := range page.Items {
		numbers[i] = d.DeviceNumber
	}
	return numbers
}

func TestBenchNew(t *testing.T) {
	s := startServer(t, "", nil)
	tp := s.createTemplate(t, nil)
	rep := s.benchJSON(t, "--secret", tp.Secret, "--mode", "new", "--devices", "200", "--concurrency", "8", "--tag", "bn")
	if rep.Requests != 200 || rep.Codes["200"] != 200 || len(rep.Codes) != 1 || len(rep.Errors) != 0 {
		t.Fatalf("requests %d, codes %v, errors %v (%s)", rep.Requests, rep.Codes, rep.Errors, rep.FirstError)
	}
	if rep.Mode != "new" || rep.RPS <= 0 || rep.P50Ms <= 0 || rep.P99Ms < rep.P50Ms || rep.MaxMs < rep.P99Ms || rep.MQTT != nil {
		t.Fatalf("report %+v", rep)
	}
	numbers := s.deviceNumbers(t, tp.ID)
	if len(numbers) != 200 {
		t.Fatalf("%d devices in the admin list, want 200", len(numbers))
	}
	seen := map[string]bool{}
	for _, n := range numbers {
		seen[n] = true
	}
	for i := 1; i <= 200; i++ {
		if !seen["bn-"+strconv.Itoa(i)] {
			t.Fatalf("device bn-%d not in the admin list", i)
		}
	}
}

func TestBenchSigned(t *testing.T) {
	s := startServer(t, "", nil)
	tp := s.createTemplate(t, map[string]any{"auth_mode": "signed"})
	rep := s.benchJSON(t, "--secret", tp.Secret, "--sign", "--template-id", tp.ID, "--devices", "50", "--concurrency", "4")
	if rep.Codes["200"] != 50 || !rep.Signed {
		t.Fatalf("signed: codes %v, errors %v", rep.Codes, rep.Errors)
	}
	if n := len(s.deviceNumbers(t, tp.ID)); n != 50 {
		t.Fatalf("%d devices, want 50", n)
	}
}

func TestBenchRepeat(t *testing.T) {
	cases := []struct {
		name     string
		template map[string]any
		broker   bool
		want     string
	}{
		// Never connected, may register again: a fresh voucher each time.
		{"until-connected", nil, false, "200"},
		{"never", map[string]any{"reregistration": "never"}, false, "200082"},
		// --mqtt: the device connects once first, then repeats are refused.
		{"connected", nil, true, "200082"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var s *testServer
			args := []string{"--mode", "repeat", "--devices", "100", "--concurrency", "8", "--tag", "br"}
			if c.broker {
				s = startBroker(t, nil)
				args = append(args, "--mqtt", s.MQTTAddr())
			} else {
				s = startServer(t, "", nil)
			}
			tp := s.createTemplate(t, c.template)
			rep := s.benchJSON(t, append(args, "--secret", tp.Secret)...)
			if rep.Repeat == nil || rep.Repeat.FirstCode != 200 || rep.Repeat.DeviceNumber != "br-fixed" || rep.Repeat.Connected != c.broker {
				t.Fatalf("first registration %+v", rep.Repeat)
			}
			if rep.Requests != 100 || rep.Codes[c.want] != 100 || len(rep.Errors) != 0 {
				t.Fatalf("repeats: codes %v, errors %v, want 100 × %s", rep.Codes, rep.Errors, c.want)
			}
			if n := s.deviceNumbers(t, tp.ID); len(n) != 1 || n[0] != "br-fixed" {
				t.Fatalf("devices %v, want the one repeated", n)
			}
		})
	}
}

func TestBenchBadSecret(t *testing.T) {
	s := startServer(t, "", nil)
	tp := s.createTemplate(t, nil)
	rep := s.benchJSON(t, "--secret", tp.Secret, "--mode", "bad-secret", "--devices", "50", "--concurrency", "4")
	// 30 failures lock the address out: the rest are answered 201003.
	wrong, locked := rep.Codes["200080"], rep.Codes["201003"]
	if wrong+locked != 50 || len(rep.Codes) > 2 || wrong < 30 || locked == 0 || len(rep.Errors) != 0 {
		t.Fatalf("codes %v, errors %v: want 200080 then 201003", rep.Codes, rep.Errors)
	}
	if n := len(s.deviceNumbers(t, tp.ID)); n != 0 {
		t.Fatalf("%d devices registered with a bad secret", n)
	}
}

func TestBenchText(t *testing.T) {
	s := startServer(t, "", nil)
	tp := s.createTemplate(t, nil)
	out, _, err := s.runBenchCLI(t, "--secret", tp.Secret, "--devices", "20", "--concurrency", "2", "--tag", "bt")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"register (mode new): 20 requests", "throughput", "requests/s", "p50", "p99", "max",
		"200 (ok) 20", "errors       none"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

func TestBenchMQTT(t *testing.T) {
	s := startBroker(t, nil)
	tp := s.createTemplate(t, nil)
	consumer := s.subscribeUplinks(t)
	rep := s.benchJSON(t, "--secret", tp.Secret, "--devices", "50", "--concurrency", "8", "--tag", "bm",
		"--mqtt", s.MQTTAddr(), "--hold", "1s", "--publish-rate", "40")
	m := rep.MQTT
	if rep.Codes["200"] != 50 || m == nil || m.Sessions != 50 || m.Connected != 50 || len(m.Errors) != 0 || m.Lost != 0 {
		t.Fatalf("codes %v, mqtt %+v", rep.Codes, m)
	}
	if m.ConnectsPerS <= 0 || m.P50Ms <= 0 || m.ClientBytesPerSession <= 0 || m.Published < 20 || m.HoldS < 1 {
		t.Fatalf("mqtt figures %+v", m)
	}
	// The broker counted the CONNECTs, and delivered every acknowledged
	// message to the tenant's consumer, from the bench's devices.
	_, metrics := do(t, "GET", s.URL+"/metrics", "")
	// 50 devices and the consumer.
	if want := `otos_mqtt_connects_total{result="accepted"} 51` + "\n"; !bytes.Contains(metrics, []byte(want)) {
		t.Errorf("metrics lack %q", want)
	}
	topic := regexp.MustCompile(`^otos/[^/]+/bm-\d+/devices/telemetry$`)
	deadline := time.Now().Add(5 * time.Second)
	for consumer.count(topic) < int(m.Published) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := consumer.count(topic); got != int(m.Published) {
		t.Fatalf("consumer received %d telemetry messages, the bench published %d", got, m.Published)
	}
	// Every device connected: a repeat is refused now.
	if status, env := s.auth(t, map[string]string{"template_secret": tp.Secret, "device_number": "bm-1"}); env.Code != 200082 {
		t.Fatalf("repeat of a benched device: %d %+v", status, env)
	}
}

// subscribeUplinks creates a service account and subscribes it to its
// tenant's device uplinks.
func (s *testServer) subscribeUplinks(t *testing.T) *client3 {
	t.Helper()
	var acct struct {
		TenantID string `json:"tenant_id"`
		Username string `json:"username"`
		Password string `json:"password"`
	}
	s.admin(t, "POST", "/api/v1/service-accounts", map[string]string{"name": "bench-consumer"}, http.StatusCreated, &acct)
	c, err := connect3(t, "tcp://"+s.MQTTAddr(), "bench-consumer", acct.Username, acct.Password, nil)
	if err != nil {
		t.Fatalf("service account connect: %v", err)
	}
	if rc := c.subscribe(t, "otos/"+acct.TenantID+"/#"); rc > 2 {
		t.Fatalf("subscribe refused: %#x", rc)
	}
	return c
}

// count returns how many received messages have a topic matching re.
func (c *client3) count(re *regexp.Regexp) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, m := range c.msgs {
		if re.MatchString(m.Topic()) {
			n++
		}
	}
	return n
}

// With --reconnect every device connects a second time, measured apart;
// the broker accepts every CONNECT of both rounds.
func TestBenchReconnect(t *testing.T) {
	s := startBroker(t, nil)
	tp := s.createTemplate(t, nil)
	rep := s.benchJSON(t, "--secret", tp.Secret, "--devices", "40", "--concurrency", "8", "--tag", "br",
		"--mqtt", s.MQTTAddr(), "--reconnect")
	m := rep.MQTT
	if m == nil || m.Connected != 40 || len(m.Errors) != 0 || m.Reconnect == nil {
		t.Fatalf("mqtt %+v", m)
	}
	if r := m.Reconnect; r.Connected != 40 || r.ConnectsPerS <= 0 || r.P50Ms <= 0 {
		t.Fatalf("reconnect round %+v", r)
	}
	_, metrics := do(t, "GET", s.URL+"/metrics", "")
	if want := `otos_mqtt_connects_total{result="accepted"} 80` + "\n"; !bytes.Contains(metrics, []byte(want)) {
		t.Errorf("metrics lack %q", want)
	}
}

func TestBenchFlags(t *testing.T) {
	s := startServer(t, "", nil)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"fail/no-secret", []string{"--devices", "1"}, "--secret"},
		{"fail/mode", []string{"--secret", "x", "--mode", "old"}, "mode"},
		{"fail/sign", []string{"--secret", "x", "--sign"}, "template id"},
		{"fail/concurrency", []string{"--secret", "x", "--concurrency", "0"}, "concurrency"},
		{"fail/argument", []string{"--secret", "x", "extra"}, "no arguments"},
		{"fail/tls-ca", []string{"--secret", "x", "--tls-ca", "/nonexistent/ca.pem"}, "--tls-ca"},
		{"fail/mqtt-duration-only", []string{"--secret", "x", "--duration", "1s", "--mqtt", "127.0.0.1:1"}, "number of devices"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := s.runBenchCLI(t, c.args...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want %q", err, c.want)
			}
		})
	}
	t.Run("duration-alone", func(t *testing.T) {
		tp := s.createTemplate(t, nil)
		rep := s.benchJSON(t, "--secret", tp.Secret, "--duration", "300ms", "--concurrency", "2")
		if rep.DurationS < 0.3 || rep.Requests == 0 || rep.Codes["200"] != rep.Requests {
			t.Fatalf("duration run: %+v", rep)
		}
	})
	t.Run("secret-from-env", func(t *testing.T) {
		tp := s.createTemplate(t, nil)
		var out bytes.Buffer
		env := func(k string) string {
			return map[string]string{"OTOS_SERVER": s.URL, "OTOS_TEMPLATE_SECRET": tp.Secret}[k]
		}
		if err := run(context.Background(), []string{"bench", "--devices", "3", "--json"}, &out, &bytes.Buffer{}, env); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), fmt.Sprintf(`"200": %d`, 3)) {
			t.Fatalf("report %s", out.String())
		}
	})
}
