package console

import (
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strconv"
	"time"

	"github.com/otos-iot/otos"
)

// pageData is what every page template gets.
type pageData struct {
	Title  string
	Nav    string // the section in the navigation
	Error  string
	Notice string
	// Secret, when set, is shown once, with a copy button: a template
	// secret, a service account's password, an admin token.
	Secret, SecretLabel string
	CSRF                string
	Actor, Scope, Role  string
	CanWrite            bool
	Values              map[string]string // form values to show again
	Data                any
}

// routes are the console's pages behind the login.
func (c *Console) routes() []route {
	const read = ""
	return []route{
		{"GET " + Prefix + "/{$}", read, c.overview},
		{"GET " + Prefix + "/live", read, c.live},
		{"GET " + Prefix + "/templates", read, c.templates},
		{"POST " + Prefix + "/templates", otos.ActionTemplateCreate, c.createTemplate},
		{"GET " + Prefix + "/templates/{id}", read, c.template},
		{"POST " + Prefix + "/templates/{id}", otos.ActionTemplateUpdate, c.updateTemplate},
		{"POST " + Prefix + "/templates/{id}/rotate-secret", otos.ActionTemplateRotateSecret, c.rotateSecret},
		{"POST " + Prefix + "/templates/{id}/allowlist/preview", otos.ActionTemplateAllowlist, c.allowlistPreview},
		{"POST " + Prefix + "/templates/{id}/allowlist", otos.ActionTemplateAllowlist, c.allowlistImport},
		{"GET " + Prefix + "/devices", read, c.devices},
		{"GET " + Prefix + "/devices/{id}", read, c.device},
		{"GET " + Prefix + "/devices/{id}/confirm", read, c.confirmDevice},
		{"POST " + Prefix + "/devices/{id}/disable", otos.ActionDeviceDisable, c.deviceAction("disable")},
		{"POST " + Prefix + "/devices/{id}/enable", otos.ActionDeviceEnable, c.deviceAction("enable")},
		{"POST " + Prefix + "/devices/{id}/reset", otos.ActionDeviceReset, c.deviceAction("reset")},
		{"POST " + Prefix + "/devices/{id}/delete", otos.ActionDeviceDelete, c.deviceAction("delete")},
		{"GET " + Prefix + "/access", read, c.access},
		{"POST " + Prefix + "/access/accounts", otos.ActionServiceAccountCreate, c.createAccount},
		{"POST " + Prefix + "/access/accounts/{id}/revoke", otos.ActionServiceAccountRevoke, c.revokeAccount},
		{"POST " + Prefix + "/access/tokens", otos.ActionTokenCreate, c.createToken},
		{"POST " + Prefix + "/access/tokens/{id}/revoke", otos.ActionTokenRevoke, c.revokeToken},
		{"GET " + Prefix + "/audit", read, c.audit},
		{"GET " + Prefix + "/webhooks", read, c.webhooks},
		{"POST " + Prefix + "/webhooks/{id}/deliveries/{event}/resend", otos.ActionWebhookResend, c.resend},
	}
}

//go:embed ui/*.html
var pageFiles embed.FS

// parsePages parses every page with the layout.
func parsePages() map[string]*template.Template {
	funcs := template.FuncMap{
		"when":     when,
		"whenp":    func(t *time.Time) template.HTML { return whenp(t) },
		"yesno":    func(b bool) string { return map[bool]string{true: "yes", false: "no"}[b] },
		"code":     codeName,
		"path":     func(s string) string { return Prefix + s },
		"orDash":   func(s string) string { return map[bool]string{true: "—", false: s}[s == ""] },
		"duration": seconds,
		"sub":      func(a, b int) int { return a - b },
		"sum": func(ns []int) int {
			t := 0
			for _, n := range ns {
				t += n
			}
			return t
		},
	}
	layout := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(pageFiles, "ui/layout.html", "ui/partials.html"))
	pages := map[string]*template.Template{}
	names, _ := fs.Glob(pageFiles, "ui/*.html")
	for _, n := range names {
		name := n[len("ui/") : len(n)-len(".html")]
		if name == "layout" || name == "partials" {
			continue
		}
		pages[name] = template.Must(template.Must(layout.Clone()).ParseFS(pageFiles, n))
	}
	return pages
}

// when shows t in UTC, marked up so that the script shows it in the
// viewer's zone.
func when(t time.Time) template.HTML {
	if t.IsZero() {
		return "—"
	}
	u := t.UTC()
	return template.HTML(fmt.Sprintf(`<time datetime="%s">%s</time>`, u.Format(time.RFC3339),
		template.HTMLEscapeString(u.Format("2006-01-02 15:04:05 UTC"))))
}

func whenp(t *time.Time) template.HTML {
	if t == nil {
		return "—"
	}
	return when(*t)
}

// codeName shows a result code with what it means.
func codeName(n int) string {
	for _, c := range otos.Codes() {
		if c.Number() == n && c != otos.ELOCKEDOUT {
			return fmt.Sprintf("%d %s", n, c.Text(otos.English))
		}
	}
	if n == otos.CodeOK {
		return "200 success"
	}
	return strconv.Itoa(n)
}

// seconds shows a number of seconds as a duration; "—" for 0.
func seconds(n int64) string {
	switch {
	case n == 0:
		return "—"
	case n%86400 == 0:
		return strconv.FormatInt(n/86400, 10) + "d"
	}
	return (time.Duration(n) * time.Second).String()
}

// render writes page name with d, for the operator of s (nil: logged out).
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, s *session, d pageData) {
	if s != nil {
		d.CSRF = s.csrf
	}
	t := c.pages[name]
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := t.ExecuteTemplate(w, "layout.html", d); err != nil {
		c.cfg.Logger.Error("console: render", "page", name, "err", err)
	}
}

// page renders a page of the logged-in principal p.
func (c *Console) page(w http.ResponseWriter, r *http.Request, s *session, p *otos.Principal, name string, d pageData) {
	d.Actor, d.Scope, d.Role, d.CanWrite = p.Actor(), string(p.Scope), string(p.Role), p.CanWrite()
	if d.Scope == "" {
		d.Scope = "every tenant"
	}
	c.render(w, r, http.StatusOK, name, s, d)
}

// fail shows err: a client's mistake as such, with its HTTP status; the
// details of anything else stay in the log.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, s *session, err error) {
	code := otos.ErrorCode(err)
	status := code.Status()
	msg := otos.Message(err, otos.English)
	if status >= 500 {
		c.cfg.Logger.Error("console", "path", r.URL.Path, "err", err)
		msg = "Something went wrong on the server; the log says what. Try again shortly."
	}
	if code == otos.EUNAUTHORIZED {
		s = nil
		msg = "Your token is no longer valid: log in again."
	}
	c.render(w, r, status, "error", s, pageData{Title: "Refused", Error: msg})
}

// afterChange shows the outcome of a change: the page at to, with a notice,
// or the error.
func (c *Console) afterChange(w http.ResponseWriter, r *http.Request, s *session, err error, to, notice string) {
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	s.flash = &pageData{Notice: notice}
	http.Redirect(w, r, Prefix+to, http.StatusSeeOther)
}

// takeFlash returns what the last change left for this page, once.
func takeFlash(s *session, d *pageData) {
	if f := s.flash; f != nil {
		s.flash = nil
		d.Notice, d.Secret, d.SecretLabel = f.Notice, f.Secret, f.SecretLabel
	}
}

var errBadForm = errors.New("bad form")
