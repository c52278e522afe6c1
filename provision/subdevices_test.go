package provision_test

import (
	"context"
	"sync"
	"testing"

	"github.com/otos-iot/otos"
	"github.com/otos-iot/otos/provision"
)

// gatewayFixture is a core with a gateway template that grants one of two
// sub-device templates, and a connected gateway's session.
type gatewayFixture struct {
	s                   *provision.Service
	gw                  *otos.Session
	granted, notGranted *otos.Template
	directProductKey    string
}

func newGatewayFixture(t *testing.T) *gatewayFixture {
	t.Helper()
	ctx := context.Background()
	s := provision.New(provision.Config{Store: newStore(t), Keys: newKeys(t)})
	f := &gatewayFixture{s: s, granted: &otos.Template{Name: "sensor", DeviceType: otos.DeviceSubDevice},
		notGranted: &otos.Template{Name: "other", DeviceType: otos.DeviceSubDevice}}
	createTemplate(t, s, f.granted)
	createTemplate(t, s, f.notGranted)
	direct := &otos.Template{Name: "direct", DeviceType: otos.DeviceDirect}
	directSecret := createTemplate(t, s, direct)
	p := &otos.Product{Name: "p", TemplateID: direct.ID}
	if err := s.Admin.CreateProduct(ctx, sys, p); err != nil {
		t.Fatal(err)
	}
	f.directProductKey = p.ProductKey
	gwT := &otos.Template{Name: "gw", DeviceType: otos.DeviceGateway, SubTemplates: []string{f.granted.ID}}
	gwSecret := createTemplate(t, s, gwT)
	if _, err := s.Admin.CreateTemplate(ctx, sys, &otos.Template{Name: "bad", DeviceType: otos.DeviceGateway,
		SubTemplates: []string{direct.ID}}); otos.ErrorField(err) != "sub_device_templates" {
		t.Fatalf("a gateway template granting a direct template: %v", err)
	}
	iss := mustRegister(t, s, gwSecret, "gw-1")
	var err error
	if f.gw, err = s.Sessions.Authenticate(ctx, device, string(iss.Voucher.Username), string(iss.Voucher.Password)); err != nil {
		t.Fatal(err)
	}
	mustRegister(t, s, directSecret, "taken-by-direct")
	return f
}

// mustRegister registers number with secret.
func mustRegister(t *testing.T, s *provision.Service, secret otos.Secret, number string) *otos.Issued {
	t.Helper()
	iss, err := register(context.Background(), s, device, &otos.AuthRequest{TemplateSecret: secret, DeviceNumber: number})
	if err != nil {
		t.Fatalf("register %s: %v", number, err)
	}
	return iss
}

func (f *gatewayFixture) batch(t *testing.T, gw *otos.Session, entries ...otos.SubDeviceRequest) ([]otos.SubDeviceOutcome, error) {
	t.Helper()
	return f.s.Registrar.RegisterSubDevices(context.Background(), gw, func() ([]otos.SubDeviceRequest, error) {
		return entries, nil
	})
}

// TestRegisterSubDevices: each entry of a gateway's batch is registered or
// refused on its own, under the templates the gateway's template grants.
func TestRegisterSubDevices(t *testing.T) {
	f := newGatewayFixture(t)
	first, err := f.batch(t, f.gw, otos.SubDeviceRequest{SubDeviceAddr: "a-1", DeviceNumber: "sd-existing"})
	if err != nil || first[0].Err != nil {
		t.Fatalf("first batch: %v %v", err, first)
	}
	cases := []struct {
		entry otos.SubDeviceRequest
		code  otos.Code
	}{
		{otos.SubDeviceRequest{SubDeviceAddr: "a-2", DeviceNumber: "sd-new", DeviceName: "Probe"}, ""},
		{otos.SubDeviceRequest{SubDeviceAddr: "a-1", DeviceNumber: "sd-existing"}, ""}, // may register again
		{otos.SubDeviceRequest{SubDeviceAddr: "a-3", DeviceNumber: "sd-other", TemplateID: f.notGranted.ID}, otos.ENOTGRANTED},
		{otos.SubDeviceRequest{SubDeviceAddr: "a-4", DeviceNumber: "sd-product", ProductKey: f.directProductKey}, otos.ENOTGRANTED},
		{otos.SubDeviceRequest{SubDeviceAddr: "a-5", DeviceNumber: "sd-noproduct", ProductKey: "nope"}, otos.EPRODUCTUNKNOWN},
		{otos.SubDeviceRequest{SubDeviceAddr: "a-2", DeviceNumber: "sd-dup-addr"}, otos.EINVALID},
		{otos.SubDeviceRequest{SubDeviceAddr: "a-6", DeviceNumber: "sd-new"}, otos.EINVALID},
		{otos.SubDeviceRequest{DeviceNumber: "sd-no-addr"}, otos.EINVALID},
		{otos.SubDeviceRequest{SubDeviceAddr: "a-7", DeviceNumber: "taken-by-direct"}, otos.EDEVICEEXISTS},
		{otos.SubDeviceRequest{SubDeviceAddr: "a-1", DeviceNumber: "sd-addr-taken"}, otos.ESUBADDRTAKEN},
	}
	entries := make([]otos.SubDeviceRequest, len(cases))
	for i, c := range cases {
		entries[i] = c.entry
	}
	// a-1 appears twice: the later entry is a duplicate in the batch; give
	// the address-taken case its own batch.
	outs, err := f.batch(t, f.gw, entries[:len(entries)-1]...)
	if err != nil {
		t.Fatal(err)
	}
	last, err := f.batch(t, f.gw, entries[len(entries)-1])
	if err != nil {
		t.Fatal(err)
	}
	outs = append(outs, last...)
	for i, c := range cases {
		if got := otos.ErrorCode(outs[i].Err); got != c.code {
			t.Errorf("entry %d (%s): %v, want %q", i, c.entry.DeviceNumber, outs[i].Err, c.code)
		}
		if c.code == "" && (outs[i].Issued == nil || outs[i].Issued.Device.ParentID != f.gw.DeviceID) {
			t.Errorf("entry %d: issued %+v, want a sub-device of the gateway", i, outs[i].Issued)
		}
	}

	// Only an enabled gateway.
	if _, err := f.batch(t, &otos.Session{TenantID: f.gw.TenantID, AccountID: "x"}, entries[0]); otos.ErrorCode(err) != otos.EFORBIDDEN {
		t.Errorf("a service account's batch: %v", err)
	}
	if _, err := f.s.Admin.SetDeviceStatus(context.Background(), sys, f.gw.DeviceID, otos.StatusDisabled); err != nil {
		t.Fatal(err)
	}
	if outs, err := f.batch(t, f.gw, otos.SubDeviceRequest{SubDeviceAddr: "z", DeviceNumber: "sd-after"}); otos.ErrorCode(err) != otos.EFORBIDDEN {
		t.Errorf("a disabled gateway's batch: %v %v", outs, err)
	}
}

// TestRacingSubDeviceBatches: forty batches at once that name the same
// sub-device create it once.
func TestRacingSubDeviceBatches(t *testing.T) {
	f := newGatewayFixture(t)
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() {
			outs, err := f.batch(t, f.gw, otos.SubDeviceRequest{SubDeviceAddr: "race", DeviceNumber: "sd-race"})
			if err != nil {
				t.Error(err)
				return
			}
			if c := otos.ErrorCode(outs[0].Err); c != "" && c != otos.EDEVICEEXISTS {
				t.Errorf("racing batch: %v", outs[0].Err)
			}
		})
	}
	wg.Wait()
	ds, _, err := f.s.Admin.Devices(context.Background(), sys, otos.DeviceFilter{DeviceNumber: "sd-race"})
	if err != nil || len(ds) != 1 {
		t.Fatalf("devices numbered sd-race: %d, %v", len(ds), err)
	}
}
