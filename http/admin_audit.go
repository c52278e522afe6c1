package http

import (
	"net/http"

	"github.com/otos-iot/otos"
	"github.com/otos-iot/otos/provision"
)

func (s *Server) listAudit(r *http.Request, p *provision.Principal) (int, any, error) {
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
	items, next, err := s.cfg.Service.AuditRecords(r.Context(), p.Scope, f)
	return http.StatusOK, List[*otos.AuditRecord]{Items: nonNil(items), NextCursor: next}, err
}
