package console

import (
	"encoding/csv"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/otos-iot/otos"
)

// maxForm bounds a form's body; an allow-list upload may be larger.
const (
	maxForm   = 64 << 10
	maxUpload = 8 << 20
)

// templates lists the templates, with the form that creates one.
func (c *Console) templates(w http.ResponseWriter, r *http.Request, s *session, p *otos.Principal) {
	ctx, cancel := readCtx(r)
	defer cancel()
	ts, next, err := c.cfg.Admin.Templates(ctx, p, otos.TemplateFilter{Page: otos.Page{Cursor: r.URL.Query().Get("cursor")}})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	defaults := &otos.Template{Registration: otos.RegistrationAuto, Reregistration: otos.ReregUntilConnected,
		AuthMode: otos.AuthAny, CloneAction: otos.CloneNone, RotationOverlap: otos.DefaultRotationOverlap}
	d := pageData{Title: "Templates", Nav: "templates", Data: map[string]any{"Templates": ts, "Next": next, "Defaults": defaults}}
	takeFlash(s, &d)
	c.page(w, r, s, p, "templates", d)
}

// templateForm reads the template settings of a create or update form;
// absent fields are nil.
func templateForm(r *http.Request) (otos.TemplateUpdate, error) {
	var u otos.TemplateUpdate
	str := func(name string) *string {
		if v, ok := r.PostForm[name]; ok && len(v) > 0 {
			s := strings.TrimSpace(v[0])
			return &s
		}
		return nil
	}
	num := func(name string) (*int64, error) {
		v := str(name)
		if v == nil || *v == "" {
			return nil, nil
		}
		n, err := strconv.ParseInt(*v, 10, 64)
		if err != nil {
			return nil, otos.FieldError(name, otos.ReasonValue, "%s must be a whole number", strings.ReplaceAll(name, "_", " "))
		}
		return &n, nil
	}
	u.Name = str("name")
	if v := str("registration"); v != nil {
		x := otos.Registration(*v)
		u.Registration = &x
	}
	if v := str("reregistration"); v != nil {
		x := otos.Reregistration(*v)
		u.Reregistration = &x
	}
	if v := str("auth_mode"); v != nil {
		x := otos.AuthMode(*v)
		u.AuthMode = &x
	}
	if v := str("clone_action"); v != nil {
		x := otos.CloneAction(*v)
		u.CloneAction = &x
	}
	for name, dst := range map[string]**int{"max_devices": &u.MaxDevices, "rate_limit": &u.RateLimit} {
		n, err := num(name)
		if err != nil {
			return u, err
		}
		if n != nil {
			i := int(*n)
			*dst = &i
		}
	}
	var err error
	if u.RotationOverlap, err = num("rotation_overlap_seconds"); err != nil {
		return u, err
	}
	if u.VoucherLifetime, err = num("voucher_lifetime_seconds"); err != nil {
		return u, err
	}
	return u, nil
}

// createTemplate creates a template and shows its secret, this once.
func (c *Console) createTemplate(w http.ResponseWriter, r *http.Request, s *session, p *otos.Principal) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	u, err := templateForm(r)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	t := &otos.Template{DeviceType: otos.DeviceType(r.PostFormValue("device_type")),
		VoucherType: otos.VoucherType(r.PostFormValue("voucher_type"))}
	if u.Name == nil {
		u.Name = new(string)
	}
	t.Name = *u.Name
	u.Name = nil
	applyOptional(t, u)
	secret, err := c.cfg.Admin.CreateTemplate(r.Context(), p, t)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	s.flash = &pageData{Notice: "Template " + t.Name + " created.", Secret: string(secret),
		SecretLabel: "Template secret: shown only now. Copy it into the firmware build; otos keeps only a hash."}
	http.Redirect(w, r, Prefix+"/templates/"+t.ID, http.StatusSeeOther)
}

// applyOptional sets on t the settings u gives; the core fills in the rest.
func applyOptional(t *otos.Template, u otos.TemplateUpdate) {
	if u.Registration != nil {
		t.Registration = *u.Registration
	}
	if u.Reregistration != nil {
		t.Reregistration = *u.Reregistration
	}
	if u.AuthMode != nil {
		t.AuthMode = *u.AuthMode
	}
	if u.CloneAction != nil {
		t.CloneAction = *u.CloneAction
	}
	if u.MaxDevices != nil {
		t.MaxDevices = *u.MaxDevices
	}
	if u.RateLimit != nil {
		t.RateLimit = *u.RateLimit
	}
	if u.RotationOverlap != nil {
		t.RotationOverlap = *u.RotationOverlap
	}
	if u.VoucherLifetime != nil {
		t.VoucherLifetime = *u.VoucherLifetime
	}
}

// template shows one template: its settings to edit, its secret's
// rotation and its allow-list upload.
func (c *Console) template(w http.ResponseWriter, r *http.Request, s *session, p *otos.Principal) {
	ctx, cancel := readCtx(r)
	defer cancel()
	t, err := c.cfg.Admin.Template(ctx, p, r.PathValue("id"))
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	d := pageData{Title: "Template " + t.Name, Nav: "templates", Data: map[string]any{"T": t, "Pending": s.pendingFor(t.ID)}}
	takeFlash(s, &d)
	c.page(w, r, s, p, "template", d)
}

func (c *Console) updateTemplate(w http.ResponseWriter, r *http.Request, s *session, p *otos.Principal) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	u, err := templateForm(r)
	if err == nil {
		_, err = c.cfg.Admin.UpdateTemplate(r.Context(), p, r.PathValue("id"), u)
	}
	c.afterChange(w, r, s, err, "/templates/"+r.PathValue("id"), "Template saved.")
}

func (c *Console) rotateSecret(w http.ResponseWriter, r *http.Request, s *session, p *otos.Principal) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	var grace *int64
	if v := r.PostFormValue("grace_seconds"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			c.fail(w, r, s, otos.FieldError("grace_seconds", otos.ReasonValue, "the grace period must be a whole number of seconds"))
			return
		}
		grace = &n
	}
	secret, until, err := c.cfg.Admin.RotateSecret(r.Context(), p, r.PathValue("id"), grace)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	s.flash = &pageData{Notice: "Secret rotated: the previous one works until " + until.UTC().Format("2006-01-02 15:04 UTC") + ".",
		Secret: string(secret), SecretLabel: "New template secret: shown only now."}
	http.Redirect(w, r, Prefix+"/templates/"+r.PathValue("id"), http.StatusSeeOther)
}

// pendingImport is an uploaded allow-list waiting to be confirmed.
type pendingImport struct {
	template string
	Numbers  []string
	Sample   []string // the first few, shown
	// New is how many are not on the list yet; -1 when the list was too
	// long to check one by one.
	New int
}

func (s *session) pendingFor(template string) *pendingImport {
	if s.pending != nil && s.pending.template == template {
		return s.pending
	}
	return nil
}

// allowlistPreview reads an uploaded CSV of device numbers (first column;
// a device_number header is skipped) and shows what an import would change.
func (c *Console) allowlistPreview(w http.ResponseWriter, r *http.Request, s *session, p *otos.Principal) {
	r.Body = http.MaxBytesReader(w, r.Body, maxUpload)
	if err := r.ParseMultipartForm(maxUpload); err != nil {
		c.fail(w, r, s, otos.FieldError("file", otos.ReasonValue, "upload a CSV file of at most 8 MiB"))
		return
	}
	if !s.checkCSRF(r) {
		c.render(w, r, http.StatusForbidden, "error", s, pageData{Title: "Refused", Error: "This upload did not come from a console page."})
		return
	}
	f, _, err := r.FormFile("file")
	if err != nil {
		c.fail(w, r, s, otos.FieldError("file", otos.ReasonRequired, "choose a CSV file of device numbers"))
		return
	}
	defer f.Close()
	numbers, err := readNumbers(f)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	id := r.PathValue("id")
	t, err := c.cfg.Admin.Template(r.Context(), p, id)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	pi := &pendingImport{template: t.ID, Numbers: numbers, Sample: numbers[:min(len(numbers), 10)], New: -1}
	if len(numbers) <= otos.MaxAllowlistCheck {
		known, err := c.cfg.Admin.AllowlistKnown(r.Context(), p, t.ID, numbers)
		if err != nil {
			c.fail(w, r, s, err)
			return
		}
		pi.New = len(numbers) - known
	}
	s.pending = pi
	s.flash = &pageData{Notice: strconv.Itoa(len(numbers)) + " device numbers read: confirm below to put them on the allow-list."}
	http.Redirect(w, r, Prefix+"/templates/"+id, http.StatusSeeOther)
}

// readNumbers reads the device numbers of a CSV: the first column of each
// row, a header "device_number" skipped, each checked as the API checks it.
func readNumbers(rd io.Reader) ([]string, error) {
	cr := csv.NewReader(rd)
	cr.FieldsPerRecord = -1
	var out []string
	seen := map[string]bool{}
	for line := 1; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, otos.FieldError("file", otos.ReasonValue, "the file is not CSV (line %d)", line)
		}
		n := strings.TrimSpace(rec[0])
		if n == "" || line == 1 && n == "device_number" {
			continue
		}
		if err := otos.ValidateDeviceNumber("device_number", n); err != nil {
			return nil, otos.FieldError("file", otos.ReasonValue, "line %d: %s", line, otos.ErrorMessage(err))
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
		if len(out) > otos.MaxAllowlistImport {
			return nil, otos.FieldError("file", otos.ReasonTooLong, "at most %d device numbers an import", otos.MaxAllowlistImport)
		}
	}
	if len(out) == 0 {
		return nil, otos.FieldError("file", otos.ReasonRequired, "the file holds no device number")
	}
	return out, nil
}

// allowlistImport imports the previewed list.
func (c *Console) allowlistImport(w http.ResponseWriter, r *http.Request, s *session, p *otos.Principal) {
	pi := s.pendingFor(r.PathValue("id"))
	if pi == nil {
		c.fail(w, r, s, otos.Errorf(otos.EINVALID, "nothing to import: upload the file again"))
		return
	}
	added, err := c.cfg.Admin.ImportAllowlist(r.Context(), p, pi.template, pi.Numbers)
	if err == nil {
		s.pending = nil
	}
	c.afterChange(w, r, s, err, "/templates/"+pi.template,
		strconv.Itoa(added)+" of "+strconv.Itoa(len(pi.Numbers))+" device numbers added to the allow-list (the others were on it already).")
}
