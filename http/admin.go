package http

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/otos-iot/otos"
)

// MaxAdminBody is the largest accepted admin API request body.
const MaxAdminBody = 1 << 20

// adminHandler serves one admin route for an authenticated principal and
// returns the status and value to write.
type adminHandler func(r *http.Request, p *otos.Principal) (int, any, error)

// AdminError is the body of an admin API error.
type AdminError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// List is the body of an admin list answer.
type List[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}

// adminRoute is one admin API route: its pattern, the core's action of the
// change it makes ("" for a read; the core refuses a viewer's token for a
// change before the request is read), and its handler.
type adminRoute struct {
	pattern string
	action  string
	h       adminHandler
}

// bodyLimits are the routes whose body may exceed MaxAdminBody.
var bodyLimits = map[string]int64{
	// Allow-lists are imported in bulk: a larger body.
	"POST /api/v1/templates/{id}/allowlist": MaxAllowlistBody,
}

func (s *Server) adminRoutes(mux *http.ServeMux) {
	for _, rt := range s.adminTable() {
		limit, ok := bodyLimits[rt.pattern]
		if !ok {
			limit = MaxAdminBody
		}
		mux.Handle(rt.pattern, s.adminLimited(rt.action, limit, rt.h))
	}
}

// adminTable is every admin route. Each one is checked by the tenant
// isolation test in cmd/otos, which fails for a route it has no case for.
func (s *Server) adminTable() []adminRoute {
	const read = ""
	return []adminRoute{
		{"POST /api/v1/templates", otos.ActionTemplateCreate, s.createTemplate},
		{"GET /api/v1/templates", read, s.listTemplates},
		{"GET /api/v1/templates/{id}", read, byID(s, "template", otos.Admin.Template)},
		{"PATCH /api/v1/templates/{id}", otos.ActionTemplateUpdate, s.updateTemplate},
		{"POST /api/v1/templates/{id}/rotate-secret", otos.ActionTemplateRotateSecret, s.rotateSecret},
		{"POST /api/v1/products", otos.ActionProductCreate, s.createProduct},
		{"GET /api/v1/products", read, s.listProducts},
		{"GET /api/v1/products/{id}", read, byID(s, "product", otos.Admin.Product)},
		{"GET /api/v1/devices", read, s.listDevices},
		{"GET /api/v1/devices/{id}", read, byID(s, "device", otos.Admin.Device)},
		{"POST /api/v1/devices/{id}/disable", otos.ActionDeviceDisable, s.deviceStatus(otos.StatusDisabled)},
		{"POST /api/v1/devices/{id}/enable", otos.ActionDeviceEnable, s.deviceStatus(otos.StatusEnabled)},
		{"POST /api/v1/devices/{id}/reset", otos.ActionDeviceReset, byID(s, "device", otos.Admin.ResetDevice)},
		{"DELETE /api/v1/devices/{id}", otos.ActionDeviceDelete, s.deleteDevice},
		{"DELETE /api/v1/devices/{id}/hardware", otos.ActionHardwareUnbind, byID(s, "device", otos.Admin.UnbindHardware)},
		{"POST /api/v1/rotation-requests", otos.ActionRotationRequest, s.requestRotation},
		{"POST /api/v1/service-accounts", otos.ActionServiceAccountCreate, s.createServiceAccount},
		{"GET /api/v1/service-accounts", read, s.listServiceAccounts},
		{"DELETE /api/v1/service-accounts/{id}", otos.ActionServiceAccountRevoke, byID(s, "service account", otos.Admin.RevokeServiceAccount)},
		{"POST /api/v1/templates/{id}/allowlist", otos.ActionTemplateAllowlist, s.importAllowlist},
		{"POST /api/v1/tenants", otos.ActionTenantCreate, s.createTenant},
		{"GET /api/v1/tenants", read, s.listTenants},
		{"GET /api/v1/tenants/{id}", read, byID(s, "tenant", otos.Admin.Tenant)},
		{"POST /api/v1/tokens", otos.ActionTokenCreate, s.createToken},
		{"GET /api/v1/tokens", read, s.listTokens},
		{"DELETE /api/v1/tokens/{id}", otos.ActionTokenRevoke, byID(s, "token", otos.Admin.RevokeToken)},
		{"GET /api/v1/audit", read, s.listAudit},
		{"POST /api/v1/webhooks", otos.ActionWebhookCreate, s.createWebhook},
		{"GET /api/v1/webhooks", read, s.listWebhooks},
		{"GET /api/v1/webhooks/{id}", read, byID(s, "webhook", otos.Admin.Webhook)},
		{"DELETE /api/v1/webhooks/{id}", otos.ActionWebhookDelete, s.deleteWebhook},
		{"GET /api/v1/webhooks/{id}/deliveries", read, s.listDeliveries},
		{"POST /api/v1/webhooks/{id}/deliveries/{event_id}/resend", otos.ActionWebhookResend, s.resendDelivery},
		{"GET /api/v1/events", read, s.listEvents},
	}
}

// AdminRoute is an admin API route as a test sees it.
type AdminRoute struct {
	Pattern string // e.g. "GET /api/v1/devices/{id}"
	Write   bool   // it changes something: a viewer's token gets 403
}

// AdminRoutes lists every admin API route, so that a test can check each
// one (tenant isolation, roles) and notices a route added later.
func AdminRoutes() []AdminRoute {
	var s Server // the handlers are only named, never called
	table := s.adminTable()
	routes := make([]AdminRoute, len(table))
	for i, rt := range table {
		routes[i] = AdminRoute{Pattern: rt.pattern, Write: rt.action != ""}
	}
	return routes
}

// adminLimited limits the request body to limit bytes, authenticates the
// bearer token for the route's change and writes the handler's answer.
// Whether the principal may do what it asks, and the audit of a change, are
// the core's.
func (s *Server) adminLimited(action string, limit int64, h adminHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		status, v, err := s.authorize(r, action, h)
		if err != nil {
			logError(s.log, r, err)
			setRetryAfter(w.Header(), err) // a locked-out address's wrong token
			writeJSON(w, errorStatus(err), AdminError{Code: otos.ErrorCode(err).Number(),
				Message: otos.Message(err, language(r.Header.Get("Accept-Language"))), Field: otos.ErrorField(err)})
			return
		}
		if v == nil {
			w.WriteHeader(status)
			return
		}
		writeJSON(w, status, v)
	})
}

// authorize authenticates the request for its change and runs h.
func (s *Server) authorize(r *http.Request, action string, h adminHandler) (int, any, error) {
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	change := otos.Change{}
	if action != "" {
		change = otos.Change{Action: action, Target: r.PathValue("id")}
	}
	p, err := s.cfg.Admin.Authenticate(r.Context(), s.clientOf(r), otos.Secret(strings.TrimSpace(token)), change)
	if err != nil {
		return 0, nil, err
	}
	return h(r, p)
}

// byID serves a route that acts on the object named by its {id}: fn, an
// otos.Admin method, gets the principal and the id; what names the object
// in a not-found answer.
func byID[T any](s *Server, what string, fn func(otos.Admin, context.Context, *otos.Principal, string) (T, error)) adminHandler {
	return func(r *http.Request, p *otos.Principal) (int, any, error) {
		id, err := pathID(r, what)
		if err != nil {
			return 0, nil, err
		}
		v, err := fn(s.cfg.Admin, r.Context(), p, id)
		return http.StatusOK, v, err
	}
}

// pathID returns the {id} of the route; ENOTFOUND when it cannot be one.
func pathID(r *http.Request, what string) (string, error) {
	id := r.PathValue("id")
	if _, err := uuid.Parse(id); err != nil {
		return "", otos.Errorf(otos.ENOTFOUND, "%s not found", what)
	}
	return id, nil
}

// queryID returns an optional id filter from the query string.
func queryID(q map[string][]string, field string) (string, error) {
	v := first(q, field)
	if v == "" {
		return "", nil
	}
	if _, err := uuid.Parse(v); err != nil {
		return "", otos.FieldError(field, otos.ReasonValue, "%s must be a UUID", field)
	}
	return v, nil
}

func first(q map[string][]string, key string) string {
	if v := q[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// page reads limit and cursor from the query string.
func page(q map[string][]string) (otos.Page, error) {
	p := otos.Page{Cursor: first(q, "cursor")}
	if v := first(q, "limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return p, otos.FieldError("limit", otos.ReasonValue, "limit must be a whole number")
		}
		p.Limit = n
	}
	return p, p.Validate()
}

// decodeAdmin reads a JSON admin body into v; an empty body leaves v as is
// when allowEmpty.
func decodeAdmin(r *http.Request, v any, allowEmpty bool) error {
	body, err := readBody(nil, r, MaxAdminBody)
	if err != nil {
		return err
	}
	if allowEmpty && len(strings.TrimSpace(string(body))) == 0 {
		return nil
	}
	return otos.DecodeObject(body, v, true)
}
