package console

import (
	"encoding/json"
	"net/http"

	"github.com/otos-iot/otos"
)

// overview is the first page: the fleet at a glance; its chart and latest
// registrations refresh from live.
func (c *Console) overview(w http.ResponseWriter, r *http.Request, s *session, p *otos.Principal) {
	ctx, cancel := readCtx(r)
	defer cancel()
	o, err := c.cfg.Admin.Overview(ctx, p)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	d := pageData{Title: "Overview", Nav: "overview", Data: o}
	takeFlash(s, &d)
	c.page(w, r, s, p, "overview", d)
}

// live answers the overview as JSON, for the page's script.
func (c *Console) live(w http.ResponseWriter, r *http.Request, s *session, p *otos.Principal) {
	ctx, cancel := readCtx(r)
	defer cancel()
	o, err := c.cfg.Admin.Overview(ctx, p)
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		w.WriteHeader(otos.ErrorCode(err).Status())
		_ = json.NewEncoder(w).Encode(map[string]string{"error": otos.Message(err, otos.English)})
		return
	}
	// The refusals' codes with what they mean, as the page shows them.
	type refusal struct {
		Code  string `json:"code"`
		Count int    `json:"count"`
	}
	rs := make([]refusal, len(o.Refusals))
	for i, r := range o.Refusals {
		rs[i] = refusal{codeName(r.Code), r.Count}
	}
	_ = json.NewEncoder(w).Encode(struct {
		*otos.Overview
		Refusals []refusal `json:"refusals"`
	}{o, rs})
}
