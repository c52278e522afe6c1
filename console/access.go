package console

import (
	"net/http"
	"time"

	"github.com/otos-iot/otos"
)

// access lists the service accounts and admin tokens, with the forms that
// create them.
func (c *Console) access(w http.ResponseWriter, r *http.Request, s *session, p *otos.Principal) {
	ctx, cancel := readCtx(r)
	defer cancel()
	accts, _, err := c.cfg.Admin.ServiceAccounts(ctx, p, otos.Page{Limit: otos.MaxPageLimit})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	toks, _, err := c.cfg.Admin.Tokens(ctx, p, otos.Page{Limit: otos.MaxPageLimit})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	d := pageData{Title: "Access", Nav: "access", Data: map[string]any{"Accounts": accts, "Tokens": toks}}
	takeFlash(s, &d)
	c.page(w, r, s, p, "access", d)
}

func (c *Console) createAccount(w http.ResponseWriter, r *http.Request, s *session, p *otos.Principal) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	a, err := c.cfg.Admin.CreateServiceAccount(r.Context(), p, "", r.PostFormValue("name"))
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	s.flash = &pageData{Notice: "Service account " + a.Name + " created; its MQTT username is " + a.Username + ".",
		Secret: a.Password, SecretLabel: "Password of " + a.Username + ": shown only now."}
	http.Redirect(w, r, Prefix+"/access", http.StatusSeeOther)
}

func (c *Console) revokeAccount(w http.ResponseWriter, r *http.Request, s *session, p *otos.Principal) {
	_, err := c.cfg.Admin.RevokeServiceAccount(r.Context(), p, r.PathValue("id"))
	c.afterChange(w, r, s, err, "/access", "Service account revoked: its sessions have ended.")
}

func (c *Console) createToken(w http.ResponseWriter, r *http.Request, s *session, p *otos.Principal) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	spec := otos.TokenSpec{Role: otos.Role(r.PostFormValue("role")), Name: r.PostFormValue("name")}
	if v := r.PostFormValue("expires_in"); v != "" {
		d, err := otos.ParseDuration(v)
		if err != nil {
			c.fail(w, r, s, otos.FieldError("expires_in", otos.ReasonValue, "expires in must be a duration like 24h or 30d"))
			return
		}
		n := int64(d / time.Second)
		spec.ExpiresInSeconds = &n
	}
	t, err := c.cfg.Admin.CreateToken(r.Context(), p, spec)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	s.flash = &pageData{Notice: "Admin token " + t.Name + " created.", Secret: t.Token,
		SecretLabel: "Admin token: shown only now; otos keeps only its hash."}
	http.Redirect(w, r, Prefix+"/access", http.StatusSeeOther)
}

func (c *Console) revokeToken(w http.ResponseWriter, r *http.Request, s *session, p *otos.Principal) {
	_, err := c.cfg.Admin.RevokeToken(r.Context(), p, r.PathValue("id"))
	c.afterChange(w, r, s, err, "/access", "Token revoked: it stops working at once.")
}

// audit lists the audit trail, filtered.
func (c *Console) audit(w http.ResponseWriter, r *http.Request, s *session, p *otos.Principal) {
	q := r.URL.Query()
	f := otos.AuditFilter{DeviceNumber: q.Get("number"), TemplateID: q.Get("template"),
		Page: otos.Page{Limit: 100, Cursor: q.Get("cursor")}}
	if v := q.Get("since"); v != "" {
		d, err := otos.ParseDuration(v)
		if err != nil {
			c.fail(w, r, s, otos.FieldError("since", otos.ReasonValue, "since must be a duration like 1h or 7d"))
			return
		}
		f.Since = c.cfg.Now().Add(-d)
	}
	ctx, cancel := readCtx(r)
	defer cancel()
	recs, next, err := c.cfg.Admin.AuditRecords(ctx, p, f)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.page(w, r, s, p, "audit", pageData{Title: "Audit", Nav: "audit",
		Values: map[string]string{"number": f.DeviceNumber, "template": f.TemplateID, "since": q.Get("since")},
		Data:   map[string]any{"Records": recs, "Next": next}})
}

// webhooks lists the webhooks and, for each, its deliveries that failed.
func (c *Console) webhooks(w http.ResponseWriter, r *http.Request, s *session, p *otos.Principal) {
	ctx, cancel := readCtx(r)
	defer cancel()
	hooks, _, err := c.cfg.Admin.Webhooks(ctx, p, otos.Page{Limit: otos.MaxPageLimit})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	type row struct {
		W      *otos.Webhook
		Failed []*otos.Delivery
	}
	rows := make([]row, 0, len(hooks))
	for _, h := range hooks {
		ds, err := c.cfg.Admin.Deliveries(ctx, p, otos.DeliveryFilter{WebhookID: h.ID, Limit: 20})
		if err != nil {
			c.fail(w, r, s, err)
			return
		}
		rows = append(rows, row{W: h, Failed: ds})
	}
	d := pageData{Title: "Webhooks", Nav: "webhooks", Data: rows}
	takeFlash(s, &d)
	c.page(w, r, s, p, "webhooks", d)
}

func (c *Console) resend(w http.ResponseWriter, r *http.Request, s *session, p *otos.Principal) {
	_, err := c.cfg.Admin.ResendDelivery(r.Context(), p, r.PathValue("id"), r.PathValue("event"))
	c.afterChange(w, r, s, err, "/webhooks", "Delivery sent again.")
}
