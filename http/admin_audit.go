package http

import (
	"net/http"

	"github.com/otos-iot/otos"
)

func (s *Server) listAudit(r *http.Request, p *otos.Principal) (int, any, error) {
	q := r.URL.Query()
	pg, err := page(q)
	if err != nil {
		return 0, nil, err
	}
	f := otos.AuditFilter{DeviceNumber: first(q, "device_number"), Page: pg}
	if f.TemplateID, err = queryID(q, "template_id"); err != nil {
		return 0, nil, err
	}
	if v := first(q, "since"); v != "" {
		if f.Since, err = parseTime("since", v); err != nil {
			return 0, nil, err
		}
	}
	items, next, err := s.cfg.Admin.AuditRecords(r.Context(), p, f)
	return http.StatusOK, List[*otos.AuditRecord]{Items: nonNil(items), NextCursor: next}, err
}
