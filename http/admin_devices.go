package http

import (
	"net/http"

	"github.com/otos-iot/otos"
)

func (s *Server) listDevices(r *http.Request, p *otos.Principal) (int, any, error) {
	q := r.URL.Query()
	pg, err := page(q)
	if err != nil {
		return 0, nil, err
	}
	f := otos.DeviceFilter{Page: pg, DeviceNumber: first(q, "device_number"), Status: otos.DeviceStatus(first(q, "status"))}
	for field, dst := range map[string]*string{"template_id": &f.TemplateID, "product_id": &f.ProductID, "parent_id": &f.ParentID} {
		if *dst, err = queryID(q, field); err != nil {
			return 0, nil, err
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
