package console

import (
	"net/http"
	"net/url"

	"github.com/otos-iot/otos"
)

// devicePage is how many devices a page lists.
const devicePage = 50

// devices lists devices, searched by number or name prefix and filtered
// by template, product, state and presence, a page at a time (keyset: as
// fast on the millionth device as on the first).
func (c *Console) devices(w http.ResponseWriter, r *http.Request, s *session, p *otos.Principal) {
	q := r.URL.Query()
	f := otos.DeviceFilter{Search: q.Get("q"), TemplateID: q.Get("template"), ProductID: q.Get("product"),
		Status: otos.DeviceStatus(q.Get("status")), Page: otos.Page{Limit: devicePage, Cursor: q.Get("cursor")}}
	switch q.Get("online") {
	case "yes":
		f.Online = new(bool)
		*f.Online = true
	case "no":
		f.Online = new(bool)
	}
	ctx, cancel := readCtx(r)
	defer cancel()
	ds, next, err := c.cfg.Admin.Devices(ctx, p, f)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	ts, _, err := c.cfg.Admin.Templates(ctx, p, otos.TemplateFilter{Page: otos.Page{Limit: otos.MaxPageLimit}})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	var nextURL string
	if next != "" {
		nq := url.Values{}
		for k, v := range q {
			nq[k] = v
		}
		nq.Set("cursor", next)
		nextURL = Prefix + "/devices?" + nq.Encode()
	}
	d := pageData{Title: "Devices", Nav: "devices", Values: map[string]string{"q": f.Search, "template": f.TemplateID,
		"product": f.ProductID, "status": string(f.Status), "online": q.Get("online")},
		Data: map[string]any{"Devices": ds, "Next": nextURL, "Templates": ts}}
	takeFlash(s, &d)
	c.page(w, r, s, p, "devices", d)
}

// device shows one device: its state, its voucher's, its parent and
// sub-devices, and its audit trail.
func (c *Console) device(w http.ResponseWriter, r *http.Request, s *session, p *otos.Principal) {
	ctx, cancel := readCtx(r)
	defer cancel()
	dev, err := c.cfg.Admin.Device(ctx, p, r.PathValue("id"))
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	subs, _, err := c.cfg.Admin.Devices(ctx, p, otos.DeviceFilter{ParentID: dev.ID, Page: otos.Page{Limit: 100}})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	var parent *otos.Device
	if dev.ParentID != "" {
		parent, _ = c.cfg.Admin.Device(ctx, p, dev.ParentID)
	}
	recs, _, err := c.cfg.Admin.AuditRecords(ctx, p, otos.AuditFilter{DeviceNumber: dev.DeviceNumber, Page: otos.Page{Limit: 50}})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	d := pageData{Title: "Device " + dev.DeviceNumber, Nav: "devices",
		Data: map[string]any{"D": dev, "Subs": subs, "Parent": parent, "Audit": recs}}
	takeFlash(s, &d)
	c.page(w, r, s, p, "device", d)
}

// deviceActions say what each action does, on the page that asks to
// confirm it.
var deviceActions = map[string]string{
	"disable": "Disabling the device ends its broker sessions now and refuses its voucher until it is enabled again.",
	"enable":  "Enabling the device lets its voucher connect again.",
	"reset":   "Resetting the device voids its voucher at once (its sessions end) and lets it register again, keeping its id.",
	"delete":  "Deleting the device ends its sessions and removes it for good; a gateway with sub-devices cannot be deleted.",
}

// confirmDevice asks to confirm an action on a device, saying what it does.
func (c *Console) confirmDevice(w http.ResponseWriter, r *http.Request, s *session, p *otos.Principal) {
	action := r.URL.Query().Get("action")
	what, ok := deviceActions[action]
	if !ok {
		c.fail(w, r, s, otos.FieldError("action", otos.ReasonValue, "action must be disable, enable, reset or delete"))
		return
	}
	ctx, cancel := readCtx(r)
	defer cancel()
	dev, err := c.cfg.Admin.Device(ctx, p, r.PathValue("id"))
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.page(w, r, s, p, "confirm", pageData{Title: "Confirm: " + action + " " + dev.DeviceNumber, Nav: "devices",
		Data: map[string]any{"D": dev, "Action": action, "What": what}})
}

// deviceAction makes a confirmed change to a device.
func (c *Console) deviceAction(action string) handler {
	return func(w http.ResponseWriter, r *http.Request, s *session, p *otos.Principal) {
		id := r.PathValue("id")
		var err error
		switch action {
		case "disable":
			_, err = c.cfg.Admin.SetDeviceStatus(r.Context(), p, id, otos.StatusDisabled)
		case "enable":
			_, err = c.cfg.Admin.SetDeviceStatus(r.Context(), p, id, otos.StatusEnabled)
		case "reset":
			_, err = c.cfg.Admin.ResetDevice(r.Context(), p, id)
		case "delete":
			err = c.cfg.Admin.DeleteDevice(r.Context(), p, id)
			c.afterChange(w, r, s, err, "/devices", "Device deleted.")
			return
		}
		c.afterChange(w, r, s, err, "/devices/"+id, "Device "+action+"d.")
	}
}
