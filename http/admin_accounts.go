package http

import (
	"net/http"

	"github.com/otos-iot/otos/provision"
)

func (s *Server) createServiceAccount(r *http.Request, p *provision.Principal) (int, any, error) {
	var body struct {
		Name     string `json:"name"`
		TenantID string `json:"tenant_id"`
	}
	if err := decodeAdmin(r, &body, false); err != nil {
		return 0, nil, err
	}
	sc, err := s.cfg.Service.CreationScope(r.Context(), p.Scope, body.TenantID)
	if err != nil {
		return 0, nil, err
	}
	a, err := s.cfg.Service.CreateServiceAccount(r.Context(), sc, body.Name)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, a, nil
}

func (s *Server) listServiceAccounts(r *http.Request, p *provision.Principal) (int, any, error) {
	pg, err := page(r.URL.Query())
	if err != nil {
		return 0, nil, err
	}
	items, next, err := s.cfg.Service.ServiceAccounts(r.Context(), p.Scope, pg)
	return http.StatusOK, List[*provision.ServiceAccount]{Items: nonNil(items), NextCursor: next}, err
}
