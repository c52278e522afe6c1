package bench

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Report is what a run measured. Its JSON form is stable, for scripts:
// fields may be added, never renamed or removed. Latencies are of answered
// requests (and accepted CONNECTs), to within 1%.
type Report struct {
	Mode        string  `json:"mode"`
	Server      string  `json:"server"`
	Tag         string  `json:"tag"`
	Concurrency int     `json:"concurrency"`
	Signed      bool    `json:"signed"`
	Requests    int64   `json:"requests"` // answered or failed; a request cut short by an interrupt is not counted
	DurationS   float64 `json:"duration_s"`
	RPS         float64 `json:"rps"`
	P50Ms       float64 `json:"p50_ms"`
	P99Ms       float64 `json:"p99_ms"`
	MaxMs       float64 `json:"max_ms"`
	// Codes counts the answers by the body's "code" ("200", "200082", …).
	Codes map[string]int64 `json:"codes"`
	// Errors counts what got no answer ("timeout", "connection_refused",
	// "bad_body" for an answer without a code, …) and answers the tool
	// could not use ("no_voucher").
	Errors map[string]int64 `json:"errors"`
	// FirstError is the text of one of the errors, to start a diagnosis.
	FirstError string `json:"first_error,omitempty"`
	// Repeat is the registration made before a ModeRepeat run.
	Repeat *RepeatSetup `json:"repeat,omitempty"`
	// MQTT is the MQTT phase's report; null when there was none.
	MQTT *MQTTReport `json:"mqtt"`
	// Interrupted is set when the run was cut short (SIGINT).
	Interrupted bool `json:"interrupted"`
}

// RepeatSetup is the registration of ModeRepeat's device, made before the
// measured requests and not counted in them.
type RepeatSetup struct {
	DeviceNumber string `json:"device_number"`
	FirstCode    int    `json:"first_code"`
	// Connected is set when the device then connected once to the broker,
	// so that the measured repeats are those of a device that has connected.
	Connected bool `json:"connected"`
}

// MQTTReport is what the MQTT phase measured.
type MQTTReport struct {
	Broker   string `json:"broker"`
	Sessions int    `json:"sessions"` // devices that tried to connect
	// ConnectRound is the first CONNECT of every device.
	ConnectRound
	// Errors counts failed CONNECTs by reason ("refused_bad_credentials",
	// "timeout", …) and failed publishes ("publish_failed").
	Errors     map[string]int64 `json:"errors"`
	FirstError string           `json:"first_error,omitempty"`
	// Lost counts sessions the broker closed while they were held.
	Lost        int64   `json:"lost"`
	HoldS       float64 `json:"hold_s"`
	Published   int64   `json:"published"` // telemetry messages acknowledged (PUBACK)
	PublishPerS float64 `json:"publish_per_s"`
	// ClientBytesPerSession is the memory (heap and stacks) this process,
	// the client side, spent per connected session: not the broker's.
	ClientBytesPerSession int64 `json:"client_bytes_per_session"`
	// Reconnect is the second round of CONNECTs, with --reconnect.
	Reconnect *ConnectRound `json:"reconnect,omitempty"`
}

// ConnectRound is a round of CONNECTs: one of every device.
type ConnectRound struct {
	Connected    int64   `json:"connected"`
	ConnectS     float64 `json:"connect_s"`
	ConnectsPerS float64 `json:"connects_per_s"`
	P50Ms        float64 `json:"p50_ms"`
	P99Ms        float64 `json:"p99_ms"`
	MaxMs        float64 `json:"max_ms"`
}

// newConnectRound is the round that connected n devices in took, with the
// latency of h.
func newConnectRound(n int, took time.Duration, h *Histogram) ConnectRound {
	r := ConnectRound{Connected: int64(n), ConnectS: took.Seconds(),
		P50Ms: ms(h.Quantile(0.50)), P99Ms: ms(h.Quantile(0.99)), MaxMs: ms(h.Max())}
	if took > 0 {
		r.ConnectsPerS = float64(n) / took.Seconds()
	}
	return r
}

// setLatency fills in the report's quantiles from h.
func (r *Report) setLatency(h *Histogram) {
	r.P50Ms, r.P99Ms, r.MaxMs = ms(h.Quantile(0.50)), ms(h.Quantile(0.99)), ms(h.Max())
}

// ms is d in milliseconds, to the microsecond.
func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

// codeNames are short names of the device API's result codes.
var codeNames = map[string]string{
	"200": "ok", "100001": "internal error", "100002": "invalid request", "100003": "store unavailable",
	"100006": "not found",
	"200080": "secret unknown", "200081": "registration off", "200082": "device exists",
	"200083": "product unknown", "200084": "sub-device fields missing", "200085": "parent unknown",
	"200086": "sub-device address taken", "200087": "bad signature", "200088": "timestamp out of window",
	"200089": "nonce replayed", "200090": "not on allow-list", "200091": "template full",
	"201003": "rate limited or locked out",
}

// WriteText writes the report for a person to read.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	signed := ""
	if r.Signed {
		signed = ", signed"
	}
	fmt.Fprintf(&b, "register (mode %s%s): %d requests in %.2fs, %d connections to %s, tag %s\n",
		r.Mode, signed, r.Requests, r.DurationS, r.Concurrency, r.Server, r.Tag)
	if r.Repeat != nil {
		then := ""
		if r.Repeat.Connected {
			then = ", then connected once over MQTT"
		}
		fmt.Fprintf(&b, "  first        device %s registered before the run: code %d%s\n",
			r.Repeat.DeviceNumber, r.Repeat.FirstCode, then)
	}
	fmt.Fprintf(&b, "  throughput   %.1f requests/s\n", r.RPS)
	fmt.Fprintf(&b, "  latency      p50 %.2f ms   p99 %.2f ms   max %.2f ms\n", r.P50Ms, r.P99Ms, r.MaxMs)
	fmt.Fprintf(&b, "  codes        %s\n", codeList(r.Codes))
	if r.Codes["201003"] > 0 {
		b.WriteString("  note         201003 is otos's lock-out of this address (after 30 failed secrets a minute,\n" +
			"               for 5 minutes by default) or a template's rate limit\n")
	}
	writeErrors(&b, r.Errors, r.FirstError)
	if m := r.MQTT; m != nil {
		m.writeText(&b)
	}
	if r.Interrupted {
		b.WriteString("interrupted: the figures cover the run until then\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeText writes the MQTT part of the report.
func (m *MQTTReport) writeText(b *strings.Builder) {
	fmt.Fprintf(b, "mqtt: %d of %d sessions connected to %s in %.2fs: %.1f CONNECTs/s\n",
		m.Connected, m.Sessions, m.Broker, m.ConnectS, m.ConnectsPerS)
	fmt.Fprintf(b, "  connect      p50 %.2f ms   p99 %.2f ms   max %.2f ms\n", m.P50Ms, m.P99Ms, m.MaxMs)
	if m.HoldS > 0 {
		fmt.Fprintf(b, "  held         %.2fs, %d sessions lost; published %d messages (%.1f/s)\n",
			m.HoldS, m.Lost, m.Published, m.PublishPerS)
	}
	if r := m.Reconnect; r != nil {
		fmt.Fprintf(b, "  reconnect    %d sessions in %.2fs: %.1f CONNECTs/s, p50 %.2f ms   p99 %.2f ms   max %.2f ms\n",
			r.Connected, r.ConnectS, r.ConnectsPerS, r.P50Ms, r.P99Ms, r.MaxMs)
	}
	writeErrors(b, m.Errors, m.FirstError)
	fmt.Fprintf(b, "  memory       %.1f KiB per session in this process (the client side, not the broker)\n",
		float64(m.ClientBytesPerSession)/1024)
}

// codeList lists result codes in numeric order with their names.
func codeList(codes map[string]int64) string {
	if len(codes) == 0 {
		return "none"
	}
	keys := slices.SortedFunc(maps.Keys(codes), func(a, b string) int {
		x, _ := strconv.Atoi(a)
		y, _ := strconv.Atoi(b)
		return x - y
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		name := codeNames[k]
		if name == "" {
			name = "?"
		}
		parts[i] = fmt.Sprintf("%s (%s) %d", k, name, codes[k])
	}
	return strings.Join(parts, ", ")
}

// writeErrors writes the errors line, and an example when there is one.
func writeErrors(b *strings.Builder, errs map[string]int64, first string) {
	if len(errs) == 0 {
		b.WriteString("  errors       none\n")
		return
	}
	parts := make([]string, 0, len(errs))
	for _, k := range slices.Sorted(maps.Keys(errs)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, errs[k]))
	}
	fmt.Fprintf(b, "  errors       %s\n", strings.Join(parts, ", "))
	if first != "" {
		fmt.Fprintf(b, "  for example  %s\n", first)
	}
}
