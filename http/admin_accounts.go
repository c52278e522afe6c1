package http

import (
	"net/http"

	"github.com/otos-iot/otos"
)

func (s *Server) createServiceAccount(r *http.Request, p *otos.Principal) (int, any, error) {
	var body struct {
		Name     string `json:"name"`
		TenantID string `json:"tenant_id"`
	}
	if err := decodeAdmin(r, &body, false); err != nil {
		return 0, nil, err
	}
	a, err := s.cfg.Admin.CreateServiceAccount(r.Context(), p, body.TenantID, body.Name)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, a, nil
}

func (s *Server) listServiceAccounts(r *http.Request, p *otos.Principal) (int, any, error) {
	pg, err := page(r.URL.Query())
	if err != nil {
		return 0, nil, err
	}
	items, next, err := s.cfg.Admin.ServiceAccounts(r.Context(), p, pg)
	return http.StatusOK, List[*otos.ServiceAccount]{Items: nonNil(items), NextCursor: next}, err
}
