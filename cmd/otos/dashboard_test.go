package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/otos-iot/otos"
	"github.com/otos-iot/otos/sqlite"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The monitoring files, from the repository's root.
var (
	dashboardFile  = filepath.Join("..", "..", "deploy", "grafana", "otos-dashboard.json")
	alertRulesFile = filepath.Join("..", "..", "deploy", "prometheus", "otos-alerts.yml")
)

// scrape returns the metric families that s serves at /metrics.
func scrape(t *testing.T, s *testServer) map[string]*dto.MetricFamily {
	t.Helper()
	res, b := do(t, "GET", s.URL+"/metrics", "")
	if res.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d %s", res.StatusCode, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return mfs
}

// gauge returns the value of the unlabelled gauge name, or -1 when s does
// not export it.
func gauge(mfs map[string]*dto.MetricFamily, name string) float64 {
	mf := mfs[name]
	if mf == nil || len(mf.GetMetric()) != 1 {
		return -1
	}
	return mf.GetMetric()[0].GetGauge().GetValue()
}

// exercisedMetrics starts otos with its broker and does what makes every
// labelled metric appear (a vector exports nothing before its first
// sample): registrations over HTTP and MQTT, accepted and refused, a rate
// limit, MQTT CONNECTs. It returns what /metrics then exports.
func exercisedMetrics(t *testing.T) map[string]*dto.MetricFamily {
	s := startBroker(t, nil)
	if _, ok := s.Store.(*sqlite.DB); !ok {
		t.Fatalf("Main.Store is a %T: it must stay the raw store, which callers assert", s.Store)
	}
	tp := s.createTemplate(t, nil)
	_, v := s.register(t, tp.Secret, "dash-1")
	if status, _ := s.auth(t, map[string]string{"template_secret": "wrong", "device_number": "dash-2"}); status == 200 {
		t.Fatal("a wrong secret registered")
	}
	limited := s.createTemplate(t, nil)
	s.admin(t, "PATCH", "/api/v1/templates/"+limited.ID, map[string]any{"rate_limit": 1}, 200, nil)
	status := 0
	for i := 0; i < 6 && status != 429; i++ {
		status, _, _ = s.post(t, authBody(limited.Secret, fmt.Sprint("dash-limited-", i)))
	}
	if status != 429 {
		t.Fatal("a template with rate_limit 1 took six registrations in a row")
	}
	if _, err := connect3(t, "tcp://"+s.MQTTAddr(), "dash-1", v.Username, v.Password, nil); err != nil {
		t.Fatalf("connect with the voucher: %v", err)
	}
	c := connect5(t, s.MQTTAddr(), "fw-dash", otos.RegistrationUsername, "")
	if r := registerOver(t, c, "d1", map[string]string{"template_secret": tp.Secret, "device_number": "dash-mqtt"}); r.Code != 200 {
		t.Fatalf("registration over MQTT: %+v", r)
	}
	mfs := scrape(t, s)
	// The store the service works through is the observed one.
	if mf := mfs["otos_store_duration_seconds"]; mf == nil || !slices.ContainsFunc(mf.GetMetric(), func(m *dto.Metric) bool {
		return labelsOf(m)["op"] == "CreateDevice" && m.GetHistogram().GetSampleCount() >= 2
	}) {
		t.Errorf("otos_store_duration_seconds has no CreateDevice calls: %v", mf)
	}
	return mfs
}

func labelsOf(m *dto.Metric) map[string]string {
	l := map[string]string{}
	for _, p := range m.GetLabel() {
		l[p.GetName()] = p.GetValue()
	}
	return l
}

// exported is what a query may name: each series name with its labels.
type exported map[string]map[string]bool

// exportedNames lists the series names of mfs as Prometheus stores them:
// a histogram's are its _bucket (with label le), _sum and _count, not its
// own name. Prometheus adds the labels job and instance.
func exportedNames(mfs map[string]*dto.MetricFamily) exported {
	out := exported{}
	for name, mf := range mfs {
		labels := map[string]bool{"job": true, "instance": true}
		for _, m := range mf.GetMetric() {
			for l := range labelsOf(m) {
				labels[l] = true
			}
		}
		switch mf.GetType() {
		case dto.MetricType_HISTOGRAM:
			bucket := maps.Clone(labels)
			bucket["le"] = true
			out[name+"_bucket"], out[name+"_sum"], out[name+"_count"] = bucket, labels, labels
		case dto.MetricType_SUMMARY:
			quantile := maps.Clone(labels)
			quantile["quantile"] = true
			out[name], out[name+"_sum"], out[name+"_count"] = quantile, labels, labels
		default:
			out[name] = labels
		}
	}
	return out
}

// familyOf is the family a series name belongs to.
func familyOf(series string) string {
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if f, ok := strings.CutSuffix(series, suffix); ok {
			return f
		}
	}
	return series
}

var (
	promString = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	// metricName finds the names of otos's and the Go client's metrics;
	// functions, keywords and label names never start so.
	metricName = regexp.MustCompile(`(?:^|[^a-zA-Z0-9_:])((?:otos|go|process)_[a-zA-Z0-9_:]*)`)
	selector   = regexp.MustCompile(`((?:otos|go|process)_[a-zA-Z0-9_:]*)\s*\{([^}]*)\}`)
	matcher    = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)`)
)

// reporter is the part of testing.TB that checkQuery reports to.
type reporter interface {
	Helper()
	Errorf(format string, args ...any)
}

// checkQuery fails unless expr's brackets and strings balance and every
// metric it names, and every label it matches on one, is exported. It
// returns the metric names.
func checkQuery(t reporter, where, expr string, ex exported) []string {
	t.Helper()
	if strings.TrimSpace(expr) == "" {
		t.Errorf("%s: empty query", where)
		return nil
	}
	bare := promString.ReplaceAllString(expr, `""`) // label values, which may hold anything
	if strings.ContainsAny(strings.ReplaceAll(bare, `""`, ""), "\"'`") {
		t.Errorf("%s: unterminated string in %q", where, expr)
	}
	if err := balanced(bare); err != nil {
		t.Errorf("%s: %v in %q", where, err, expr)
	}
	var names []string
	for _, m := range metricName.FindAllStringSubmatch(bare, -1) {
		name := m[1]
		names = append(names, name)
		if ex[name] == nil {
			t.Errorf("%s: %s is not exported by otos (query %q)", where, name, expr)
		}
	}
	for _, m := range selector.FindAllStringSubmatch(bare, -1) {
		labels := ex[m[1]]
		if labels == nil {
			continue // reported above
		}
		for _, l := range matcher.FindAllStringSubmatch(m[2], -1) {
			if !labels[l[1]] {
				t.Errorf("%s: %s has no label %q (query %q)", where, m[1], l[1], expr)
			}
		}
	}
	return names
}

// balanced reports the first bracket of s that does not pair.
func balanced(s string) error {
	var open []rune
	pairs := map[rune]rune{')': '(', '}': '{', ']': '['}
	for _, r := range s {
		switch r {
		case '(', '{', '[':
			open = append(open, r)
		case ')', '}', ']':
			if len(open) == 0 || open[len(open)-1] != pairs[r] {
				return fmt.Errorf("unbalanced %q", r)
			}
			open = open[:len(open)-1]
		}
	}
	if len(open) > 0 {
		return fmt.Errorf("unclosed %q", open[len(open)-1])
	}
	return nil
}

// dashboard is what the test reads of the Grafana dashboard.
type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

type variable struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Query any    `json:"query"` // a string, or {"query": ...}
}

type panel struct {
	ID         int        `json:"id"`
	Type       string     `json:"type"`
	Title      string     `json:"title"`
	Datasource datasource `json:"datasource"`
	Targets    []struct {
		RefID      string     `json:"refId"`
		Expr       string     `json:"expr"`
		Datasource datasource `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // of a collapsed row
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// readDashboard parses the dashboard and checks its frame: the data source
// a variable, panel ids unique, each panel with queries on it.
func readDashboard(t *testing.T) (dashboard, []panel) {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if d.UID == "" || d.Title == "" || d.SchemaVersion < 39 {
		t.Errorf("dashboard uid %q, title %q, schemaVersion %d: want both, and 39 or later", d.UID, d.Title, d.SchemaVersion)
	}
	if !slices.ContainsFunc(d.Templating.List, func(v variable) bool {
		return v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus"
	}) {
		t.Error(`dashboard has no "datasource" variable of Prometheus data sources`)
	}
	var panels []panel
	ids := map[int]bool{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if ids[p.ID] {
				t.Errorf("panel id %d twice", p.ID)
			}
			ids[p.ID] = true
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if p.Datasource.UID != "${datasource}" || len(p.Targets) == 0 {
				t.Errorf("panel %q: data source %q, %d queries: want ${datasource} and at least one", p.Title, p.Datasource.UID, len(p.Targets))
			}
			for _, q := range p.Targets {
				if q.Datasource.UID != "${datasource}" || q.RefID == "" {
					t.Errorf("panel %q query %q: data source %q", p.Title, q.RefID, q.Datasource.UID)
				}
			}
			panels = append(panels, p)
		}
	}
	walk(d.Panels)
	return d, panels
}

// alertRule is one rule of the alert rules file.
type alertRule struct {
	Alert, Expr, For, Severity, Summary string
}

// readAlertRules parses the rules file, a plain subset of YAML (see
// parseYAML: the module has no YAML library), and checks each rule's
// fields.
func readAlertRules(t *testing.T) []alertRule {
	t.Helper()
	b, err := os.ReadFile(alertRulesFile)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := parseYAML(string(b))
	if err != nil {
		t.Fatalf("%s: %v", alertRulesFile, err)
	}
	groups, _ := doc.(map[string]any)["groups"].([]any)
	if len(groups) == 0 {
		t.Fatalf("%s: no groups", alertRulesFile)
	}
	var rules []alertRule
	for _, g := range groups {
		g, _ := g.(map[string]any)
		rs, _ := g["rules"].([]any)
		if g["name"] == nil || len(rs) == 0 {
			t.Errorf("group %v: want a name and rules", g["name"])
		}
		for _, r := range rs {
			r, _ := r.(map[string]any)
			labels, _ := r["labels"].(map[string]any)
			annotations, _ := r["annotations"].(map[string]any)
			rule := alertRule{Alert: str(r["alert"]), Expr: str(r["expr"]), For: str(r["for"]),
				Severity: str(labels["severity"]), Summary: str(annotations["summary"])}
			if rule.Alert == "" || !slices.Contains([]string{"critical", "warning", "info"}, rule.Severity) || rule.Summary == "" {
				t.Errorf("rule %+v: want alert, a severity critical, warning or info, and a summary", rule)
			}
			if !regexp.MustCompile(`^(\d+[smhdwy])+$`).MatchString(rule.For) {
				t.Errorf("rule %s: for %q is not a duration", rule.Alert, rule.For)
			}
			rules = append(rules, rule)
		}
	}
	return rules
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// TestDashboardAndAlertsUseExportedMetrics: every query of the Grafana
// dashboard and of the alert rules names metrics, and labels, that otos
// exports, and the dashboard shows every otos metric.
func TestDashboardAndAlertsUseExportedMetrics(t *testing.T) {
	mfs := exercisedMetrics(t)
	ex := exportedNames(mfs)

	t.Run("dashboard", func(t *testing.T) {
		d, panels := readDashboard(t)
		shown := map[string]bool{}
		for _, p := range panels {
			for _, q := range p.Targets {
				for _, n := range checkQuery(t, fmt.Sprintf("panel %q %s", p.Title, q.RefID), q.Expr, ex) {
					shown[familyOf(n)] = true
				}
			}
		}
		for _, v := range d.Templating.List {
			if q, ok := v.Query.(map[string]any); ok {
				checkQuery(t, "variable "+v.Name, str(q["query"]), ex)
			}
		}
		for name := range mfs {
			if strings.HasPrefix(name, "otos_") && !shown[name] {
				t.Errorf("otos exports %s, which no panel shows", name)
			}
		}
	})

	t.Run("alerts", func(t *testing.T) {
		rules := readAlertRules(t)
		var names []string
		for _, r := range rules {
			checkQuery(t, "rule "+r.Alert, r.Expr, ex)
			names = append(names, r.Alert)
		}
		for _, want := range []string{"OtosDown", "OtosStoreDown", "OtosRefusalSpike", "OtosLockoutStorm", "OtosNoRegistrations", "OtosWebhookLagging"} {
			if !slices.Contains(names, want) {
				t.Errorf("no rule %s", want)
			}
		}
		// promtool parses PromQL for real, where it is installed.
		if promtool, err := exec.LookPath("promtool"); err == nil {
			if out, err := exec.Command(promtool, "check", "rules", alertRulesFile).CombinedOutput(); err != nil {
				t.Errorf("promtool check rules: %v\n%s", err, out)
			}
		}
	})
}

// TestDashboardCheckCatchesDrift: the check fails on a metric or a label
// that otos does not export, and on a broken query.
func TestDashboardCheckCatchesDrift(t *testing.T) {
	ex := exported{"otos_registrations_total": {"code": true, "job": true, "instance": true}}
	for _, c := range []struct {
		name, expr string
		fails      bool
	}{
		{"ok", `sum by (code) (rate(otos_registrations_total{code!="200", instance=~"$instance"}[5m]))`, false},
		{"ok/name-in-a-string", `up{job="otos_registrations_typo"}`, false},
		{"fail/unknown-metric", `rate(otos_registrations_totl[5m])`, true},
		{"fail/unknown-label", `otos_registrations_total{result="200"}`, true},
		{"fail/unbalanced", `sum(rate(otos_registrations_total[5m])`, true},
		{"fail/empty", ` `, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var p queryProbe
			checkQuery(&p, c.name, c.expr, ex)
			if p.failed != c.fails {
				t.Errorf("%q: failed %v (%s), want %v", c.expr, p.failed, p.msg, c.fails)
			}
		})
	}
}

// queryProbe is a reporter that records whether it was told of a failure.
type queryProbe struct {
	failed bool
	msg    string
}

func (p *queryProbe) Helper() {}

func (p *queryProbe) Errorf(format string, args ...any) {
	p.failed, p.msg = true, fmt.Sprintf(format, args...)
}

// TestMetricsWebhookLag: a webhook whose endpoint fails is behind while
// its delivery retries, and once the retries are spent the delivery is
// counted dead and the webhook no longer behind.
func TestMetricsWebhookLag(t *testing.T) {
	s := startServer(t, "", quickWebhooks)
	rcv := newReceiver(t)
	rcv.mu.Lock()
	rcv.fail = func(*otos.Event) (int, time.Duration) { return 503, 0 }
	rcv.mu.Unlock()
	tp := s.createTemplate(t, nil)
	rcv.createWebhook(t, s, "device.registered")
	if mfs := scrape(t, s); gauge(mfs, "otos_webhook_lag_seconds") != 0 || gauge(mfs, "otos_webhook_dead_deliveries") != 0 {
		t.Fatalf("before any event: lag %v, dead %v; want 0 and 0",
			gauge(mfs, "otos_webhook_lag_seconds"), gauge(mfs, "otos_webhook_dead_deliveries"))
	}
	s.register(t, tp.Secret, "lag-1")
	var maxLag, lag, dead float64
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		mfs := scrape(t, s)
		lag, dead = gauge(mfs, "otos_webhook_lag_seconds"), gauge(mfs, "otos_webhook_dead_deliveries")
		maxLag = max(maxLag, lag)
		if dead == 1 && lag == 0 {
			break
		}
	}
	if dead != 1 || lag != 0 || maxLag <= 0 {
		t.Errorf("dead %v and lag %v at the end, lag at most %v while retrying: want 1, 0 and above 0", dead, lag, maxLag)
	}
}

// parseYAML parses the subset of YAML the alert rules use: block mappings
// and sequences indented with spaces, plain, quoted and literal block (|)
// scalars, full-line comments. Anything else is an error, so that the file
// stays in what this reads the way Prometheus does.
func parseYAML(src string) (any, error) {
	var ls []yamlLine
	for i, raw := range strings.Split(src, "\n") {
		text := strings.TrimLeft(raw, " ")
		if strings.HasPrefix(strings.TrimLeft(raw, " \t"), "#") || strings.TrimSpace(raw) == "" {
			continue
		}
		if strings.HasPrefix(text, "\t") {
			return nil, fmt.Errorf("line %d: tab in the indentation", i+1)
		}
		ls = append(ls, yamlLine{n: i + 1, indent: len(raw) - len(text), text: strings.TrimRight(text, " ")})
	}
	if len(ls) == 0 {
		return nil, fmt.Errorf("empty document")
	}
	p := &yamlParser{ls: ls}
	v, err := p.block(ls[0].indent)
	if err == nil && p.i < len(ls) {
		err = fmt.Errorf("line %d: unexpected indentation", ls[p.i].n)
	}
	return v, err
}

type yamlLine struct {
	n, indent int
	text      string
}

type yamlParser struct {
	ls []yamlLine
	i  int
}

// block parses the mapping or sequence whose lines start at indent.
func (p *yamlParser) block(indent int) (any, error) {
	if l := p.ls[p.i]; l.text == "-" || strings.HasPrefix(l.text, "- ") {
		return p.sequence(indent)
	}
	return p.mapping(indent)
}

func (p *yamlParser) sequence(indent int) ([]any, error) {
	var out []any
	for p.i < len(p.ls) && p.ls[p.i].indent == indent && strings.HasPrefix(p.ls[p.i].text+" ", "- ") {
		l := &p.ls[p.i]
		rest := strings.TrimLeft(strings.TrimPrefix(l.text, "-"), " ")
		if rest == "" {
			p.i++
			if p.i == len(p.ls) || p.ls[p.i].indent <= indent {
				return nil, fmt.Errorf("line %d: empty item", l.n)
			}
			v, err := p.block(p.ls[p.i].indent)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
			continue
		}
		// The item's content starts after "- ": read it as a line there.
		*l = yamlLine{n: l.n, indent: indent + len(l.text) - len(rest), text: rest}
		if !strings.Contains(rest, ": ") && !strings.HasSuffix(rest, ":") {
			v, err := scalar(rest, l.n)
			if err != nil {
				return nil, err
			}
			out, p.i = append(out, v), p.i+1
			continue
		}
		v, err := p.mapping(l.indent)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

var yamlKey = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*):(?: (.*))?$`)

func (p *yamlParser) mapping(indent int) (map[string]any, error) {
	out := map[string]any{}
	for p.i < len(p.ls) && p.ls[p.i].indent == indent {
		l := p.ls[p.i]
		m := yamlKey.FindStringSubmatch(l.text)
		if m == nil {
			return nil, fmt.Errorf("line %d: %q is not key: value", l.n, l.text)
		}
		if _, dup := out[m[1]]; dup {
			return nil, fmt.Errorf("line %d: key %s twice", l.n, m[1])
		}
		p.i++
		var v any
		var err error
		switch rest := strings.TrimSpace(m[2]); {
		case rest == "|" || rest == "|-":
			v = p.literal(indent)
		case rest == "":
			if p.i == len(p.ls) || p.ls[p.i].indent <= indent {
				return nil, fmt.Errorf("line %d: %s has no value", l.n, m[1])
			}
			v, err = p.block(p.ls[p.i].indent)
		default:
			v, err = scalar(rest, l.n)
		}
		if err != nil {
			return nil, err
		}
		out[m[1]] = v
	}
	return out, nil
}

// literal reads the lines of a block scalar, those indented past indent,
// keeping their indentation beyond the first's.
func (p *yamlParser) literal(indent int) string {
	var lines []string
	base := -1
	for ; p.i < len(p.ls) && p.ls[p.i].indent > indent; p.i++ {
		l := p.ls[p.i]
		if base < 0 {
			base = l.indent
		}
		lines = append(lines, strings.Repeat(" ", max(l.indent-base, 0))+l.text)
	}
	return strings.Join(lines, "\n")
}

// scalar reads a plain or quoted scalar; flow collections, anchors, tags
// and trailing comments are refused.
func scalar(s string, n int) (string, error) {
	switch {
	case strings.HasPrefix(s, `"`):
		v, err := strconv.Unquote(s)
		if err != nil {
			return "", fmt.Errorf("line %d: %s: %v", n, s, err)
		}
		return v, nil
	case strings.HasPrefix(s, "'"):
		if len(s) < 2 || !strings.HasSuffix(s, "'") {
			return "", fmt.Errorf("line %d: unterminated %s", n, s)
		}
		return strings.ReplaceAll(s[1:len(s)-1], "''", "'"), nil
	case strings.ContainsAny(s[:1], "[{&*!|>%@`") || strings.Contains(s, " #"):
		return "", fmt.Errorf("line %d: %q is beyond the YAML this test reads", n, s)
	}
	return s, nil
}

// TestDashboardYAMLSubset: the reader of the rules file reads what it
// should and refuses what it cannot read faithfully.
func TestDashboardYAMLSubset(t *testing.T) {
	doc := "# c\na:\n  - name: x\n    rules:\n      - alert: A\n        expr: |\n          sum(\n            up)\n        labels:\n          s: \"q: {{ $v }}\"\n  - 'y'\n"
	v, err := parseYAML(doc)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(v)
	want := `{"a":[{"name":"x","rules":[{"alert":"A","expr":"sum(\n  up)","labels":{"s":"q: {{ $v }}"}}]},"y"]}`
	if string(got) != want {
		t.Errorf("parsed\n%s\nwant\n%s", got, want)
	}
	for _, bad := range []string{"a: [1, 2]\n", "a: b # c\n", "a: 1\na: 2\n", "a:\n\t- b\n", "a:\n  b: 1\n c: 2\n", "just text\n"} {
		if _, err := parseYAML(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}
