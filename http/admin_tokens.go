package http

import (
	"net/http"
	"time"

	"github.com/otos-iot/otos"
)

func (s *Server) createToken(r *http.Request, p *otos.Principal) (int, any, error) {
	var body struct {
		TenantID         string    `json:"tenant_id"`
		Role             otos.Role `json:"role"`
		Name             string    `json:"name"`
		ExpiresInSeconds *int64    `json:"expires_in_seconds"`
		ExpiresAt        string    `json:"expires_at"`
	}
	if err := decodeAdmin(r, &body, false); err != nil {
		return 0, nil, err
	}
	spec := otos.TokenSpec{TenantID: body.TenantID, Role: body.Role, Name: body.Name, ExpiresInSeconds: body.ExpiresInSeconds}
	if body.ExpiresAt != "" {
		at, err := parseTime("expires_at", body.ExpiresAt)
		if err != nil {
			return 0, nil, err
		}
		spec.ExpiresAt = &at
	}
	t, err := s.cfg.Admin.CreateToken(r.Context(), p, spec)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, t, nil
}

func (s *Server) listTokens(r *http.Request, p *otos.Principal) (int, any, error) {
	pg, err := page(r.URL.Query())
	if err != nil {
		return 0, nil, err
	}
	items, next, err := s.cfg.Admin.Tokens(r.Context(), p, pg)
	return http.StatusOK, List[*otos.AdminToken]{Items: nonNil(items), NextCursor: next}, err
}

// parseTime reads an RFC 3339 time from field.
func parseTime(field, v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, otos.FieldError(field, otos.ReasonValue,
			"%s must be an RFC 3339 time, e.g. 2026-01-02T15:04:05Z", field)
	}
	return t, nil
}
