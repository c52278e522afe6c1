package http

import (
	"net/http"

	"github.com/otos-iot/otos"
)

func (s *Server) createTenant(r *http.Request, p *otos.Principal) (int, any, error) {
	var body struct {
		Name string `json:"name"`
	}
	if err := decodeAdmin(r, &body, false); err != nil {
		return 0, nil, err
	}
	t, err := s.cfg.Admin.CreateTenant(r.Context(), p, body.Name)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, t, nil
}

func (s *Server) listTenants(r *http.Request, p *otos.Principal) (int, any, error) {
	pg, err := page(r.URL.Query())
	if err != nil {
		return 0, nil, err
	}
	items, next, err := s.cfg.Admin.Tenants(r.Context(), p, pg)
	return http.StatusOK, List[*otos.Tenant]{Items: nonNil(items), NextCursor: next}, err
}
