package provision_test

import (
	"context"
	"testing"

	"github.com/otos-iot/otos"
)

// TestAdminChangesAudited: the core audits every admin change, and every
// refused attempt at one, under the acting principal, whatever adapter
// called it; reads leave no record.
func TestAdminChangesAudited(t *testing.T) {
	ctx := context.Background()
	s, _ := newService(t)
	from := otos.Client{Addr: "198.51.100.20", Key: "198.51.100.20"}
	admin := &otos.Principal{Role: otos.RoleAdmin, TokenID: "tok-admin", From: from}
	viewer := &otos.Principal{Scope: otos.DefaultTenantID, Role: otos.RoleViewer, TokenID: "tok-viewer", From: from}
	tpl := &otos.Template{Name: "audited", DeviceType: otos.DeviceDirect}
	if _, err := s.Admin.CreateTemplate(ctx, admin, tpl); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Admin.Template(ctx, admin, tpl.ID); err != nil {
		t.Fatal(err)
	}
	name := "renamed"
	if _, err := s.Admin.UpdateTemplate(ctx, viewer, tpl.ID, otos.TemplateUpdate{Name: &name}); otos.ErrorCode(err) != otos.EFORBIDDEN {
		t.Fatalf("a viewer's change: %v, want EFORBIDDEN", err)
	}
	missing := "01900000-0000-7000-8000-00000000dead"
	if _, err := s.Admin.ResetDevice(ctx, admin, missing); otos.ErrorCode(err) != otos.ENOTFOUND {
		t.Fatalf("reset of no device: %v", err)
	}
	if _, err := s.Admin.CreateTenant(ctx, viewer, "nope"); otos.ErrorCode(err) != otos.EFORBIDDEN {
		t.Fatalf("a viewer's tenant: %v", err)
	}

	rs, _, err := s.Admin.AuditRecords(ctx, admin, otos.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	want := []otos.AuditRecord{
		{Action: "template.create", Code: 200, Actor: "token:tok-admin", Target: tpl.ID, TenantID: otos.DefaultTenantID},
		{Action: "template.update", Code: 100005, Actor: "token:tok-viewer", Target: tpl.ID, TenantID: otos.DefaultTenantID},
		{Action: "device.reset", Code: 100006, Actor: "token:tok-admin", Target: missing},
		{Action: "tenant.create", Code: 100005, Actor: "token:tok-viewer", TenantID: otos.DefaultTenantID},
	}
	if len(rs) != len(want) {
		t.Fatalf("%d audit records, want %d: %+v", len(rs), len(want), rs)
	}
	for i, w := range want {
		r := rs[i]
		if r.Kind != otos.AuditAdmin || r.Action != w.Action || r.Code != w.Code || r.Actor != w.Actor ||
			r.Target != w.Target || r.TenantID != w.TenantID || r.ClientAddr != from.Addr {
			t.Errorf("record %d: %+v, want %+v from %s", i, r, w, from.Addr)
		}
	}
}

// TestAdminRefusesReadOnlyChangeFirst: a viewer's token is refused a change
// when it authenticates, before the request is read, and the refusal is
// audited with the object it named.
func TestAdminRefusesReadOnlyChangeFirst(t *testing.T) {
	ctx := context.Background()
	s, _ := newService(t)
	tok, err := s.Admin.CreateToken(ctx, sys, otos.TokenSpec{Role: otos.RoleViewer, TenantID: otos.DefaultTenantID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Admin.Authenticate(ctx, device, otos.Secret(tok.Token), otos.Change{}); err != nil {
		t.Fatalf("a viewer reading: %v", err)
	}
	change := otos.Change{Action: otos.ActionDeviceDelete, Target: "whatever-the-path-said"}
	if _, err := s.Admin.Authenticate(ctx, device, otos.Secret(tok.Token), change); otos.ErrorCode(err) != otos.EFORBIDDEN {
		t.Fatalf("a viewer deleting: %v, want EFORBIDDEN", err)
	}
	if _, err := s.Admin.Authenticate(ctx, device, "otos_no-such-token-0123456789", change); otos.ErrorCode(err) != otos.EUNAUTHORIZED {
		t.Fatalf("no token: %v, want EUNAUTHORIZED", err)
	}
	rs, _, err := s.Admin.AuditRecords(ctx, sys, otos.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	last := rs[len(rs)-1]
	if last.Action != otos.ActionDeviceDelete || last.Code != otos.EFORBIDDEN.Number() || last.Target != change.Target ||
		last.Actor != "token:"+tok.ID || last.ClientAddr != device.Addr {
		t.Errorf("the refusal's record: %+v", last)
	}
}
