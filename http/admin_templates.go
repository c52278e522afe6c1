package http

import (
	"net/http"
	"time"

	"github.com/otos-iot/otos"
)

// TemplateCreated is the answer to POST /api/v1/templates: the template and,
// this once, its secret.
type TemplateCreated struct {
	*otos.Template
	TemplateSecret string `json:"template_secret"`
}

// SecretRotated is the answer to POST /api/v1/templates/{id}/rotate-secret.
type SecretRotated struct {
	TemplateID     string    `json:"template_id"`
	TemplateSecret string    `json:"template_secret"`
	PreviousUntil  time.Time `json:"previous_secret_valid_until"`
}

func (s *Server) createTemplate(r *http.Request, p *otos.Principal) (int, any, error) {
	var body struct {
		Name           string              `json:"name"`
		DeviceType     otos.DeviceType     `json:"device_type"`
		VoucherType    otos.VoucherType    `json:"voucher_type"`
		Registration   otos.Registration   `json:"registration"`
		Reregistration otos.Reregistration `json:"reregistration"`
		AuthMode       otos.AuthMode       `json:"auth_mode"`
		MaxDevices     int                 `json:"max_devices"`
		RateLimit      int                 `json:"rate_limit"`
		SubTemplates   []string            `json:"sub_device_templates"`
		CloneAction    otos.CloneAction    `json:"clone_action"`
		TenantID       string              `json:"tenant_id"`
		// Seconds; the overlap's default is the core's.
		RotationOverlap int64 `json:"rotation_overlap_seconds"`
		VoucherLifetime int64 `json:"voucher_lifetime_seconds"`
	}
	if err := decodeAdmin(r, &body, false); err != nil {
		return 0, nil, err
	}
	t := &otos.Template{TenantID: body.TenantID, Name: body.Name, DeviceType: body.DeviceType, VoucherType: body.VoucherType,
		Registration: body.Registration, Reregistration: body.Reregistration, AuthMode: body.AuthMode,
		MaxDevices: body.MaxDevices, RateLimit: body.RateLimit, SubTemplates: body.SubTemplates,
		CloneAction: body.CloneAction, RotationOverlap: body.RotationOverlap, VoucherLifetime: body.VoucherLifetime}
	secret, err := s.cfg.Admin.CreateTemplate(r.Context(), p, t)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, TemplateCreated{Template: t, TemplateSecret: string(secret)}, nil
}

func (s *Server) listTemplates(r *http.Request, p *otos.Principal) (int, any, error) {
	pg, err := page(r.URL.Query())
	if err != nil {
		return 0, nil, err
	}
	items, next, err := s.cfg.Admin.Templates(r.Context(), p, otos.TemplateFilter{Page: pg})
	return http.StatusOK, List[*otos.Template]{Items: nonNil(items), NextCursor: next}, err
}

func (s *Server) updateTemplate(r *http.Request, p *otos.Principal) (int, any, error) {
	id, err := pathID(r, "template")
	if err != nil {
		return 0, nil, err
	}
	var body struct {
		Name            *string              `json:"name"`
		Registration    *otos.Registration   `json:"registration"`
		Reregistration  *otos.Reregistration `json:"reregistration"`
		AuthMode        *otos.AuthMode       `json:"auth_mode"`
		MaxDevices      *int                 `json:"max_devices"`
		RateLimit       *int                 `json:"rate_limit"`
		SubTemplates    *[]string            `json:"sub_device_templates"`
		CloneAction     *otos.CloneAction    `json:"clone_action"`
		RotationOverlap *int64               `json:"rotation_overlap_seconds"`
		VoucherLifetime *int64               `json:"voucher_lifetime_seconds"`
	}
	if err := decodeAdmin(r, &body, false); err != nil {
		return 0, nil, err
	}
	t, err := s.cfg.Admin.UpdateTemplate(r.Context(), p, id, otos.TemplateUpdate(body))
	return http.StatusOK, t, err
}

func (s *Server) rotateSecret(r *http.Request, p *otos.Principal) (int, any, error) {
	id, err := pathID(r, "template")
	if err != nil {
		return 0, nil, err
	}
	body := struct {
		GraceSeconds *int64 `json:"grace_seconds"`
	}{}
	if err := decodeAdmin(r, &body, true); err != nil {
		return 0, nil, err
	}
	secret, until, err := s.cfg.Admin.RotateSecret(r.Context(), p, id, body.GraceSeconds)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, SecretRotated{TemplateID: id, TemplateSecret: string(secret), PreviousUntil: until}, nil
}

func (s *Server) createProduct(r *http.Request, p *otos.Principal) (int, any, error) {
	var body struct {
		Name       string `json:"name"`
		TemplateID string `json:"template_id"`
	}
	if err := decodeAdmin(r, &body, false); err != nil {
		return 0, nil, err
	}
	prod := &otos.Product{Name: body.Name, TemplateID: body.TemplateID}
	if err := s.cfg.Admin.CreateProduct(r.Context(), p, prod); err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, prod, nil
}

func (s *Server) listProducts(r *http.Request, p *otos.Principal) (int, any, error) {
	q := r.URL.Query()
	pg, err := page(q)
	if err != nil {
		return 0, nil, err
	}
	tid, err := queryID(q, "template_id")
	if err != nil {
		return 0, nil, err
	}
	items, next, err := s.cfg.Admin.Products(r.Context(), p, otos.ProductFilter{TemplateID: tid, Page: pg})
	return http.StatusOK, List[*otos.Product]{Items: nonNil(items), NextCursor: next}, err
}

// nonNil makes an empty list encode as [] rather than null.
func nonNil[T any](items []T) []T {
	if items == nil {
		return []T{}
	}
	return items
}
