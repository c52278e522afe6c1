package provision

import (
	"context"
	"slices"
	"sync"

	"github.com/otos-iot/otos"
)

// subDevicesAtOnce bounds the entries of one batch registered in parallel:
// enough to fill a group commit, few enough that one gateway cannot take
// every store connection.
const subDevicesAtOnce = 16

var errNotGateway = otos.Errorf(otos.EFORBIDDEN, "Only an enabled gateway registers sub-devices this way")

// RegisterSubDevices implements otos.Registrar.
func (r *Registrar) RegisterSubDevices(ctx context.Context, gw *otos.Session, decode func() ([]otos.SubDeviceRequest, error)) ([]otos.SubDeviceOutcome, error) {
	if err := r.guard.check(gw.From); err != nil {
		return nil, err
	}
	if gw.IsService() || gw.Registration || gw.DeviceType != otos.DeviceGateway {
		return nil, errNotGateway
	}
	entries, err := decode()
	if err != nil {
		return nil, err
	}
	if d, err := r.views.device(ctx, gw.DeviceNumber); err != nil {
		return nil, err
	} else if d == nil || d.ID != gw.DeviceID || d.Status != otos.StatusEnabled {
		return nil, errNotGateway
	}
	gt, err := r.views.template(ctx, gw.TemplateID)
	if err != nil {
		return nil, err
	}
	if gt == nil {
		return nil, errNotGateway
	}
	outs := make([]otos.SubDeviceOutcome, len(entries))
	sem := make(chan struct{}, subDevicesAtOnce)
	var wg sync.WaitGroup
	for i, e := range entries {
		outs[i].Request = e
		if err := duplicate(entries, i); err != nil {
			outs[i].Err = err
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			outs[i].Issued, outs[i].Err = r.subDevice(ctx, gw, gt, &outs[i].Request)
		})
	}
	wg.Wait()
	return outs, nil
}

// duplicate refuses entry i of a batch when an earlier one names the same
// device number or address: the two would race for one device.
func duplicate(entries []otos.SubDeviceRequest, i int) error {
	for _, e := range entries[:i] {
		switch {
		case e.DeviceNumber == entries[i].DeviceNumber:
			return otos.FieldError("device_number", otos.ReasonValue, "device_number %q appears earlier in this batch", e.DeviceNumber)
		case e.SubDeviceAddr == entries[i].SubDeviceAddr:
			return otos.FieldError("sub_device_addr", otos.ReasonValue, "sub_device_addr %q appears earlier in this batch", e.SubDeviceAddr)
		}
	}
	return nil
}

// subDevice registers one entry of gateway gw's batch, as a registration
// with the sub-device template's secret would, and audits it.
func (r *Registrar) subDevice(ctx context.Context, gw *otos.Session, gt *otos.Template, e *otos.SubDeviceRequest) (iss *otos.Issued, err error) {
	var req *otos.AuthRequest
	var t *otos.Template
	defer func() { r.refused(ctx, gw.From, req, t, err) }()
	if err := e.Validate(); err != nil {
		return nil, err
	}
	req = &otos.AuthRequest{DeviceNumber: e.DeviceNumber, DeviceName: e.DeviceName, ProductKey: e.ProductKey,
		ParentDeviceNumber: gw.DeviceNumber, SubDeviceAddr: e.SubDeviceAddr}
	if t, err = r.subTemplate(ctx, gt, e); err != nil {
		return nil, err
	}
	return r.register(ctx, gw.From, t, req)
}

// subTemplate returns the template of an entry: its product's, the one it
// names, or the only one the gateway's template grants; ENOTGRANTED when
// that is not one of those gt grants.
func (r *Registrar) subTemplate(ctx context.Context, gt *otos.Template, e *otos.SubDeviceRequest) (*otos.Template, error) {
	id := e.TemplateID
	switch {
	case e.ProductKey != "":
		p, err := r.store.ProductByKey(ctx, e.ProductKey)
		if err != nil {
			return nil, ifNotFound(err, &otos.Error{Code: otos.EPRODUCTUNKNOWN, Field: "product_key",
				Message: "Product key does not exist"})
		}
		id = p.TemplateID
	case id == "" && len(gt.SubTemplates) == 1:
		id = gt.SubTemplates[0]
	case id == "":
		return nil, &otos.Error{Code: otos.ENOTGRANTED, Field: "template_id",
			Message: "Name the sub-device's product_key or template_id: the gateway's template grants none or several"}
	}
	if !slices.Contains(gt.SubTemplates, id) {
		return nil, &otos.Error{Code: otos.ENOTGRANTED, Field: "template_id",
			Message: "The gateway's template does not grant this sub-device template"}
	}
	t, err := r.views.template(ctx, id)
	if err != nil {
		return nil, err
	}
	if t == nil || t.TenantID != gt.TenantID || t.DeviceType != otos.DeviceSubDevice {
		return nil, &otos.Error{Code: otos.ENOTGRANTED, Field: "template_id",
			Message: "The gateway's template does not grant this sub-device template"}
	}
	return t, nil
}
