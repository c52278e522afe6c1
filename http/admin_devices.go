package http

import (
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/otos-iot/otos"
)

func (s *Server) listDevices(r *http.Request, p *otos.Principal) (int, any, error) {
	q := r.URL.Query()
	pg, err := page(q)
	if err != nil {
		return 0, nil, err
	}
	f := otos.DeviceFilter{Page: pg, DeviceNumber: first(q, "device_number"), Status: otos.DeviceStatus(first(q, "status")),
		Search: first(q, "q")}
	switch v := first(q, "online"); v {
	case "":
	case "true", "false":
		on := v == "true"
		f.Online = &on
	default:
		return 0, nil, otos.FieldError("online", otos.ReasonValue, "online must be true or false")
	}
	for field, dst := range map[string]*string{"template_id": &f.TemplateID, "product_id": &f.ProductID, "parent_id": &f.ParentID} {
		if *dst, err = queryID(q, field); err != nil {
			return 0, nil, err
		}
	}
	if v := first(q, "expiring_within"); v != "" {
		if f.ExpiringWithin, err = otos.ParseDuration(v); err != nil || f.ExpiringWithin <= 0 {
			return 0, nil, otos.FieldError("expiring_within", otos.ReasonValue, "expiring_within must be a duration such as 36h or 7d")
		}
	}
	if err := f.Validate(); err != nil {
		return 0, nil, err
	}
	items, next, err := s.cfg.Admin.Devices(r.Context(), p, f)
	return http.StatusOK, List[*otos.Device]{Items: nonNil(items), NextCursor: next}, err
}

func (s *Server) deviceStatus(st otos.DeviceStatus) adminHandler {
	return func(r *http.Request, p *otos.Principal) (int, any, error) {
		id, err := pathID(r, "device")
		if err != nil {
			return 0, nil, err
		}
		d, err := s.cfg.Admin.SetDeviceStatus(r.Context(), p, id, st)
		return http.StatusOK, d, err
	}
}

func (s *Server) deleteDevice(r *http.Request, p *otos.Principal) (int, any, error) {
	id, err := pathID(r, "device")
	if err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, s.cfg.Admin.DeleteDevice(r.Context(), p, id)
}

// RotationRequested is the answer to POST /api/v1/rotation-requests.
type RotationRequested struct {
	// Devices is how many devices were asked to rotate their voucher.
	Devices  int64      `json:"devices"`
	Deadline *time.Time `json:"deadline"`
}

// requestRotation asks the devices of one device, template or tenant to
// rotate their voucher, by a deadline (RFC 3339) or within a duration.
func (s *Server) requestRotation(r *http.Request, p *otos.Principal) (int, any, error) {
	var body struct {
		DeviceID   string     `json:"device_id"`
		TemplateID string     `json:"template_id"`
		TenantID   string     `json:"tenant_id"`
		Deadline   *time.Time `json:"deadline"`
		Within     string     `json:"deadline_in"`
	}
	if err := decodeAdmin(r, &body, false); err != nil {
		return 0, nil, err
	}
	for field, v := range map[string]string{"device_id": body.DeviceID, "template_id": body.TemplateID, "tenant_id": body.TenantID} {
		if _, err := uuid.Parse(v); v != "" && err != nil {
			return 0, nil, otos.FieldError(field, otos.ReasonValue, "%s must be a UUID", field)
		}
	}
	sc := otos.RotationScope{DeviceID: body.DeviceID, TemplateID: body.TemplateID, TenantID: body.TenantID}
	if body.Within != "" {
		d, err := otos.ParseDuration(body.Within)
		if err != nil || d <= 0 || body.Deadline != nil {
			return 0, nil, otos.FieldError("deadline_in", otos.ReasonValue, "deadline_in must be a duration such as 36h or 7d, and not sent with deadline")
		}
		n, at, err := s.cfg.Admin.RequestRotationWithin(r.Context(), p, sc, d)
		return http.StatusOK, RotationRequested{Devices: n, Deadline: &at}, err
	}
	n, err := s.cfg.Admin.RequestRotation(r.Context(), p, sc, body.Deadline)
	return http.StatusOK, RotationRequested{Devices: n, Deadline: body.Deadline}, err
}
