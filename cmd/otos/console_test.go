package main

import (
	"bytes"
	"context"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/otos-iot/otos"
)

// browser returns a chromedp context on a headless Chromium (the Debian
// package's), for the test's lifetime. Without a browser the test is
// skipped, except under CI (OTOS_CI set), where it fails: .ci/run installs
// one.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("OTOS_CI") != "" {
			t.Fatal("no chromium: .ci/run installs the Debian package chromium; the browser tests need it")
		}
		t.Skip("no chromium on PATH (apt-get install chromium)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelT(); cancel(); cancelA() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// shots is where the browser tests save their screenshots: OTOS_SCREENSHOTS
// (the README's come from docs/console), else the test's temporary
// directory.
func shots(t *testing.T) string {
	if d := os.Getenv("OTOS_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// shot saves a full-page screenshot of what the browser shows as name.png.
func shot(dir, name string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		b, err := chromedp.FullScreenshot(100)(ctx, t)
		if err != nil {
			return chromedp.Void{}, err
		}
		return chromedp.Void{}, os.WriteFile(filepath.Join(dir, name+".png"), b, 0o644)
	}
}

// grab stores in dst the text (or, with html, the outer HTML) of the node of sel.
func grab[S chromedp.Selectable](sel S, dst *string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		v, err := chromedp.Text(sel)(ctx, t)
		*dst = v
		return chromedp.Void{}, err
	}
}

// evalInt stores in dst the number that expr gives.
func evalInt(expr string, dst *int) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		v, err := chromedp.Evaluate[int](expr)(ctx, t)
		*dst = v
		return chromedp.Void{}, err
	}
}

// text returns the text of sel.
func text(ctx context.Context, t *testing.T, sel string) string {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Text(sel))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return v
}

// login logs the browser in with token.
func login(base, token string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.Navigate(base+"/console/login"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), token),
		chromedp.Submit(chromedp.ID("token")),
		chromedp.WaitVisible(chromedp.ID("chart")),
	)
}

// TestConsole drives the console in a real browser as an operator would:
// log in, create a template and copy its secret, see a device registered
// over HTTP appear in the live view, disable it and see its MQTT CONNECT
// refused, rotate the secret and see the old one refused, log out; a
// tenant's token sees only its tenant; a change without the CSRF token is
// refused. It saves a screenshot of each page.
func TestConsole(t *testing.T) {
	ctx := browser(t)
	dir := shots(t)
	s := startBroker(t, nil)
	base := s.URL

	// The login page, then the overview.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/console/login"), chromedp.WaitVisible(chromedp.ID("token")),
		shot(dir, "login")); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, login(base, s.Token)); err != nil {
		t.Fatalf("log in: %v", err)
	}

	// Create a template; its secret is shown once, with a copy button.
	var secret, copied string
	err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/console/templates"),
		chromedp.WaitVisible(chromedp.ID("name")),
		chromedp.SendKeys(chromedp.ID("name"), "thermostat"),
		chromedp.SetValue(chromedp.ID("voucher_lifetime_seconds"), "0"),
		chromedp.Submit(chromedp.ID("name")),
		chromedp.WaitVisible(chromedp.ID("secret-value")),
		grab(chromedp.ID("secret-value"), &secret),
		shot(dir, "template-created"),
		chromedp.Click(chromedp.CSS(`button.copy`)),
		chromedp.Sleep(200*time.Millisecond),
		grab(chromedp.CSS(`button.copy`), &copied),
	)
	if err != nil {
		t.Fatalf("create a template: %v", err)
	}
	if len(secret) < 20 || (copied != "Copied" && !strings.HasPrefix(copied, "Selected")) {
		t.Fatalf("secret %q shown, copy button says %q", secret, copied)
	}
	var again string
	if err := chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("about-title")),
		grab(chromedp.CSS(`main`), &again)); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(again, secret) {
		t.Fatal("the template secret is shown a second time")
	}

	// A device registered over HTTP shows in the live view within two seconds.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/console/"), chromedp.WaitVisible(chromedp.ID("chart"))); err != nil {
		t.Fatal(err)
	}
	id, v := s.register(t, secret, "console-dev-1")
	start := time.Now()
	wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	err = chromedp.Do(wctx, chromedp.WaitVisible(`//tbody[@id="latest"]//a[text()="console-dev-1"]`))
	cancel()
	if err != nil {
		t.Fatalf("the registration did not show in the live view within 2 s: %v", err)
	}
	t.Logf("registration shown after %v", time.Since(start))
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`#chart svg`)), shot(dir, "overview")); err != nil {
		t.Fatal(err)
	}

	// Find it, disable it (after a confirmation saying what that does), and
	// its MQTT CONNECT is refused.
	var what string
	err = chromedp.Do(ctx,
		chromedp.Navigate(base+"/console/devices?q=console-dev"),
		chromedp.WaitVisible(`//a[text()="console-dev-1"]`),
		shot(dir, "devices"),
		chromedp.Click(`//a[text()="console-dev-1"]`),
		chromedp.WaitVisible(chromedp.ID("voucher-title")),
		shot(dir, "device"),
		chromedp.Click(`//a[contains(text(),"Disable")]`),
		chromedp.WaitVisible(chromedp.ID("what-title")),
		grab(chromedp.CSS(`main`), &what),
		shot(dir, "confirm"),
		chromedp.Click(chromedp.CSS(`button.danger`)),
		chromedp.WaitVisible(chromedp.ID("device-status")),
	)
	if err != nil {
		t.Fatalf("disable the device: %v", err)
	}
	if !strings.Contains(what, "ends its broker sessions") {
		t.Fatalf("the confirmation does not say what disabling does: %q", what)
	}
	var status string
	if err := chromedp.Do(ctx, grab(chromedp.ID("device-status"), &status)); err != nil || status != "disabled" {
		t.Fatalf("device status %q, %v", status, err)
	}
	if _, err := connect3(t, "tcp://"+s.MQTTAddr(), "console-dev-1", v.Username, v.Password, nil); err == nil {
		t.Fatal("a disabled device connected over MQTT")
	}
	var d otos.Device
	s.admin(t, "GET", "/api/v1/devices/"+id, nil, http.StatusOK, &d)
	if d.Status != otos.StatusDisabled {
		t.Fatalf("device %+v", d)
	}

	// Rotate the secret with no grace: the old one is refused.
	var fresh string
	err = chromedp.Do(ctx,
		chromedp.Navigate(base+"/console/templates"),
		chromedp.Click(`//a[text()="thermostat"]`),
		chromedp.WaitVisible(chromedp.ID("grace_seconds")),
		shot(dir, "template"),
		chromedp.SetValue(chromedp.ID("grace_seconds"), "0"),
		chromedp.Submit(chromedp.ID("grace_seconds")),
		chromedp.WaitVisible(chromedp.ID("secret-value")),
		grab(chromedp.ID("secret-value"), &fresh),
	)
	if err != nil {
		t.Fatalf("rotate the secret: %v", err)
	}
	if _, env := s.auth(t, map[string]string{"template_secret": secret, "device_number": "console-dev-2"}); env.Code != otos.ESECRETUNKNOWN.Number() {
		t.Fatalf("the old secret after rotation: %+v", env)
	}
	s.register(t, fresh, "console-dev-2")

	// The other pages render.
	for _, p := range []string{"access", "audit", "webhooks"} {
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/console/"+p), chromedp.WaitVisible(chromedp.CSS(`h1`)),
			shot(dir, p)); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
	}
	// At 375 px wide the devices page still shows its table, without
	// sideways scrolling of the page itself.
	var scroll, width int
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(375, 800), chromedp.Navigate(base+"/console/devices"),
		chromedp.WaitVisible(chromedp.ID("device-list")),
		evalInt(`document.documentElement.scrollWidth`, &scroll), evalInt(`window.innerWidth`, &width),
		shot(dir, "devices-375"), chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatal(err)
	}
	if scroll > width {
		t.Errorf("at 375 px the page is %d px wide", scroll)
	}

	// A change without the CSRF token, with the browser's session cookie.
	var cookie string
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		cs, err := networkCookies(ctx, tg)
		cookie = cs
		return err
	})); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/console/devices/"+id+"/enable", strings.NewReader(""))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Cookie", "otos_console="+cookie)
	res, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("a change without the CSRF token: %d, want 403", res.StatusCode)
	}
	s.admin(t, "GET", "/api/v1/devices/"+id, nil, http.StatusOK, &d)
	if d.Status != otos.StatusDisabled {
		t.Fatal("the change without a CSRF token was made")
	}

	// The console's changes are audited with the console as the actor.
	var audit struct {
		Items []otos.AuditRecord `json:"items"`
	}
	s.admin(t, "GET", "/api/v1/audit?limit=1000", nil, http.StatusOK, &audit)
	found := false
	for _, a := range audit.Items {
		found = found || a.Action == otos.ActionDeviceDisable && a.Target == id && strings.HasPrefix(a.Actor, "console:token:")
	}
	if !found {
		t.Fatalf("the console's disable is not audited as the console's: %+v", audit.Items)
	}

	// Log out: the session ends on the server, the old cookie is worthless.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/console/"), chromedp.Click(chromedp.CSS(`.logout button`)),
		chromedp.WaitVisible(chromedp.ID("token"))); err != nil {
		t.Fatalf("log out: %v", err)
	}
	req, _ = http.NewRequest(http.MethodGet, base+"/console/devices", nil)
	req.Header.Set("Cookie", "otos_console="+cookie)
	noRedirect := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if res, err = noRedirect.Do(req); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || !strings.HasSuffix(res.Header.Get("Location"), "/console/login") {
		t.Fatalf("the session cookie after logout: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
}

// TestConsoleTenant: a tenant's token sees only its tenant's devices in the
// console, and a wrong token is refused and counts toward the lock-out.
func TestConsoleTenant(t *testing.T) {
	s := startServer(t, "", nil)
	var other otos.Tenant
	s.admin(t, "POST", "/api/v1/tenants", map[string]any{"name": "other"}, http.StatusCreated, &other)
	mine := s.createTemplate(t, nil)
	theirs := s.createTemplate(t, map[string]any{"tenant_id": other.ID})
	s.register(t, mine.Secret, "tenant-a-dev")
	theirID, _ := s.register(t, theirs.Secret, "tenant-b-dev")
	var tok struct {
		Token string `json:"token"`
	}
	s.admin(t, "POST", "/api/v1/tokens", map[string]any{"role": "admin", "tenant_id": other.ID}, http.StatusCreated, &tok)

	c := consoleLogin(t, s.URL, tok.Token)
	page := func(path string) (int, string) {
		res, err := c.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := readAll(res.Body)
		return res.StatusCode, string(b)
	}
	if _, body := page("/console/devices"); !strings.Contains(body, "tenant-b-dev") || strings.Contains(body, "tenant-a-dev") {
		t.Fatalf("a tenant's devices page: %s", body)
	}
	if status, _ := page("/console/devices/" + theirID); status != http.StatusOK {
		t.Fatalf("its own device: %d", status)
	}
	_, body := page("/console/devices?q=tenant-a-dev")
	if strings.Contains(body, `tenant-a-dev</a>`) {
		t.Fatal("a tenant's token found another tenant's device")
	}
	ids := s.deviceIDs(t, "tenant-a-dev")
	if status, _ := page("/console/devices/" + ids); status != http.StatusNotFound {
		t.Fatalf("another tenant's device: %d, want 404", status)
	}

	// A wrong token: refused, and enough of them lock the address out.
	for i := range 40 {
		res, err := postLogin(s.URL, "not-a-token")
		if err != nil {
			t.Fatal(err)
		}
		if res == http.StatusTooManyRequests {
			if i < 10 {
				t.Fatalf("locked out after %d wrong tokens", i)
			}
			return
		}
		if res != http.StatusUnauthorized {
			t.Fatalf("a wrong token: %d", res)
		}
	}
	t.Fatal("40 wrong tokens did not lock the address out")
}

// deviceIDs returns the id of the device with this number (the system
// administrator's view).
func (s *testServer) deviceIDs(t *testing.T, number string) string {
	t.Helper()
	var list struct {
		Items []otos.Device `json:"items"`
	}
	s.admin(t, "GET", "/api/v1/devices?device_number="+url.QueryEscape(number), nil, http.StatusOK, &list)
	if len(list.Items) != 1 {
		t.Fatalf("device %s: %d found", number, len(list.Items))
	}
	return list.Items[0].ID
}

// consoleLogin logs an HTTP client in to the console with token.
func consoleLogin(t testing.TB, base, token string) *http.Client {
	t.Helper()
	c, status, err := postLoginClient(base, token)
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusOK {
		t.Fatalf("console login: %d", status)
	}
	return c
}

// postLogin posts a login with token from a fresh client and returns the
// status.
func postLogin(base, token string) (int, error) {
	_, status, err := postLoginClient(base, token)
	return status, err
}

// postLoginClient logs a fresh client in with token, as a browser does:
// the login page's nonce cookie and field, then the form; it returns the
// client and the status the redirects end in.
func postLoginClient(base, token string) (*http.Client, int, error) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 5 * time.Second}
	res, err := c.Get(base + "/console/login")
	if err != nil {
		return nil, 0, err
	}
	res.Body.Close()
	u, _ := url.Parse(base + "/console/")
	var nonce string
	for _, ck := range jar.Cookies(u) {
		if ck.Name == "otos_console_login" {
			nonce = ck.Value
		}
	}
	res, err = c.PostForm(base+"/console/login", url.Values{"login": {nonce}, "token": {token}})
	if err != nil {
		return nil, 0, err
	}
	res.Body.Close()
	if res.StatusCode == http.StatusOK && !strings.HasSuffix(res.Request.URL.Path, "/console/") {
		return c, http.StatusConflict, nil // answered, but not logged in
	}
	return c, res.StatusCode, nil
}

// csrfOf returns the CSRF token of a console page.
func csrfOf(t *testing.T, body string) string {
	t.Helper()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token in the page: %s", body)
	}
	return m[1]
}

// TestConsoleAllowlist: an uploaded CSV is previewed (what is new, what is
// on the list already) and imported only when confirmed.
func TestConsoleAllowlist(t *testing.T) {
	s := startServer(t, "", nil)
	tpl := s.createTemplate(t, map[string]any{"registration": "allowlist"})
	s.admin(t, "POST", "/api/v1/templates/"+tpl.ID+"/allowlist", map[string]any{"device_numbers": []string{"al-1"}}, http.StatusOK, nil)
	c := consoleLogin(t, s.URL, s.Token)
	get := func(path string) string {
		res, err := c.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := readAll(res.Body)
		return string(b)
	}
	page := get("/console/templates/" + tpl.ID)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("csrf", csrfOf(t, page))
	fw, _ := mw.CreateFormFile("file", "numbers.csv")
	_, _ = fw.Write([]byte("device_number\nal-1\nal-2\nal-3\nal-2\n"))
	mw.Close()
	res, err := c.Post(s.URL+"/console/templates/"+tpl.ID+"/allowlist/preview", mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := readAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(b), "<strong>2 new</strong>, 1 on the list already") {
		t.Fatalf("preview: %s", b)
	}
	// Nothing changed yet.
	if _, env := s.auth(t, map[string]string{"template_secret": tpl.Secret, "device_number": "al-2"}); env.Code != otos.ENOTALLOWED.Number() {
		t.Fatalf("al-2 registered before the import was confirmed: %+v", env)
	}
	res, err = c.PostForm(s.URL+"/console/templates/"+tpl.ID+"/allowlist", url.Values{"csrf": {csrfOf(t, string(b))}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ = readAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(b), "2 of 3 device numbers added") {
		t.Fatalf("import: %s", b)
	}
	s.register(t, tpl.Secret, "al-2")
}

// TestConsoleOff: --console=false serves no console.
func TestConsoleOff(t *testing.T) {
	s := startServer(t, "", func(c *Config) { c.Console = false })
	res, err := httpClient.Get(s.URL + "/console/login")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /console/login with the console off: %d", res.StatusCode)
	}
	m := NewMain()
	if err := m.ParseFlags([]string{"--console=false"}, io.Discard, func(string) string { return "" }); err != nil || m.Config.Console {
		t.Fatalf("--console=false: %v, console %v", err, m.Config.Console)
	}
}

// TestConsoleSessions: cookies are Secure behind a trusted TLS proxy, a
// new login replaces the session it came with, a body over the bound is
// refused before it is read, HEAD is no change, and logout ends the session.
func TestConsoleSessions(t *testing.T) {
	s := startServer(t, "", func(c *Config) { c.TrustedProxies = "127.0.0.1/32" })
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/console/login", nil)
	req.Header.Set("X-Forwarded-Proto", "https")
	res, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if ck := res.Cookies(); len(ck) == 0 || !ck[0].Secure || !ck[0].HttpOnly || ck[0].SameSite != http.SameSiteStrictMode {
		t.Fatalf("login cookie behind a TLS proxy: %+v", ck)
	}

	c := consoleLogin(t, s.URL, s.Token)
	u, _ := url.Parse(s.URL + "/console/")
	first := ""
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == "otos_console" {
			first = ck.Value
		}
	}
	get := func(cookie, path, method string) int {
		req, _ := http.NewRequest(method, s.URL+path, nil)
		req.Header.Set("Cookie", "otos_console="+cookie)
		noRedirect := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		res, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if st := get(first, "/console/devices", http.MethodHead); st != http.StatusOK {
		t.Fatalf("HEAD of a page: %d", st)
	}
	// A body over the bound: refused, nothing created.
	page, _ := c.Get(s.URL + "/console/access")
	b, _ := readAll(page.Body)
	page.Body.Close()
	big := url.Values{"csrf": {csrfOf(t, string(b))}, "name": {strings.Repeat("x", 200<<10)}}
	res, err = c.PostForm(s.URL+"/console/access/accounts", big)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode < 400 || res.StatusCode >= 500 {
		t.Fatalf("a 200 KiB form: %d, want a 4xx", res.StatusCode)
	}
	// Logging in again ends the session the browser came with.
	second := consoleLoginWith(t, c, s.URL, s.Token)
	if get(first, "/console/devices", http.MethodGet) != http.StatusSeeOther {
		t.Fatal("the session a new login came with still works")
	}
	// Logout ends the new one.
	page, _ = c.Get(s.URL + "/console/")
	b, _ = readAll(page.Body)
	page.Body.Close()
	res, err = c.PostForm(s.URL+"/console/logout", url.Values{"csrf": {csrfOf(t, string(b))}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if get(second, "/console/devices", http.MethodGet) != http.StatusSeeOther {
		t.Fatal("the session works after logout")
	}
}

// consoleLoginWith logs client c in (whatever session cookie it holds) and
// returns the new session id.
func consoleLoginWith(t *testing.T, c *http.Client, base, token string) string {
	t.Helper()
	u, _ := url.Parse(base + "/console/")
	noRedirect := *c
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := noRedirect.Get(base + "/console/login")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	var nonce string
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == "otos_console_login" {
			nonce = ck.Value
		}
	}
	if nonce == "" {
		// Logged in already: the login page redirects; ask with a fresh nonce.
		jarless := &http.Client{Timeout: 5 * time.Second}
		res, err := jarless.Get(base + "/console/login")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		for _, ck := range res.Cookies() {
			if ck.Name == "otos_console_login" {
				nonce = ck.Value
			}
		}
		c.Jar.SetCookies(u, []*http.Cookie{{Name: "otos_console_login", Value: nonce, Path: "/console"}})
	}
	res, err = noRedirect.PostForm(base+"/console/login", url.Values{"login": {nonce}, "token": {token}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	for _, ck := range res.Cookies() {
		if ck.Name == "otos_console" && ck.Value != "" {
			return ck.Value
		}
	}
	t.Fatalf("no new session: %d", res.StatusCode)
	return ""
}
