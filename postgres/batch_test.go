package postgres

import (
	"context"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/otos-iot/otos"
	"github.com/otos-iot/otos/postgres/pgtest"
	"github.com/otos-iot/otos/storetest"
)

// batchTemplate creates a direct template with cap max (0: none).
func batchTemplate(t testing.TB, d *DB, id string, max int) {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Microsecond)
	tpl := &otos.Template{ID: id, TenantID: otos.DefaultTenantID, Name: id, DeviceType: otos.DeviceDirect,
		VoucherType: otos.VoucherBasic, Registration: otos.RegistrationAuto, Reregistration: otos.ReregUntilConnected,
		AuthMode: otos.AuthAny, MaxDevices: max, CreatedAt: now, UpdatedAt: now}
	h := sha256.Sum256([]byte(id))
	if err := d.CreateTemplate(t.Context(), tpl, otos.TemplateSecret{Hash: h[:], Sealed: []byte{1}}); err != nil {
		t.Fatal(err)
	}
}

func batchDevice(template, id, number string) *otos.Device {
	now := time.Now().UTC().Truncate(time.Microsecond)
	return &otos.Device{ID: id, TenantID: otos.DefaultTenantID, TemplateID: template, DeviceNumber: number,
		Status: otos.StatusEnabled, CreatedAt: now, UpdatedAt: now,
		Credential: otos.Voucher{Username: otos.Secret(id), Password: "p"}.Credential()}
}

// runBatch inserts devs as one batch of the group commit and returns each
// one's result.
func runBatch(d *DB, devs ...*otos.Device) []error {
	var batch []*insertReq
	for _, dev := range devs {
		batch = append(batch, &insertReq{ctx: context.Background(), dev: dev, result: make(chan error, 1)})
	}
	reqs := append([]*insertReq(nil), batch...) // run reorders batch
	d.inserts.run(batch)
	errs := make([]error, len(reqs))
	for i, r := range reqs {
		errs[i] = <-r.result
	}
	return errs
}

// A batch inserts its good rows with one statement, and a row that breaks a
// constraint gets the answer it would get alone, naming the field.
func TestBatchInsert(t *testing.T) {
	d := mustOpen(t, pgtest.Schema(t))
	batchTemplate(t, d, "tpl", 0)
	if errs := runBatch(d, batchDevice("tpl", "d0", "n0")); errs[0] != nil {
		t.Fatal(errs[0])
	}
	cases := []struct {
		name  string
		devs  []*otos.Device
		code  []otos.Code
		field []string
	}{
		{"ok", []*otos.Device{batchDevice("tpl", "d1", "n1"), batchDevice("tpl", "d2", "n2")},
			[]otos.Code{"", ""}, []string{"", ""}},
		{"fail/number-taken", []*otos.Device{batchDevice("tpl", "d3", "n3"), batchDevice("tpl", "d4", "n0"), batchDevice("tpl", "d5", "n5")},
			[]otos.Code{"", otos.ECONFLICT, ""}, []string{"", "device_number", ""}},
		{"fail/number-twice-in-batch", []*otos.Device{batchDevice("tpl", "d6", "n6"), batchDevice("tpl", "d7", "n6")},
			[]otos.Code{"", otos.ECONFLICT}, []string{"", "device_number"}},
		// A foreign key fails the statement as a whole: every row is then
		// inserted alone.
		{"fail/unknown-template", []*otos.Device{batchDevice("tpl", "d8", "n8"), batchDevice("nope", "d9", "n9")},
			[]otos.Code{"", otos.ENOTFOUND}, []string{"", "template_id"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			statements, alone := d.inserts.statements.Load(), d.inserts.alone.Load()
			errs := runBatch(d, c.devs...)
			if d.inserts.statements.Load() != statements+1 {
				t.Error("the batch was not inserted by one statement")
			}
			if c.name == "ok" && d.inserts.alone.Load() != alone {
				t.Error("rows of a good batch were inserted one by one")
			}
			for i, err := range errs {
				if otos.ErrorCode(err) != c.code[i] || otos.ErrorField(err) != c.field[i] {
					t.Errorf("device %s: %v, want code %q field %q", c.devs[i].ID, err, c.code[i], c.field[i])
				}
				_, gerr := d.Device(t.Context(), c.devs[i].ID)
				if stored := gerr == nil; stored != (c.code[i] == "") {
					t.Errorf("device %s stored %v, want %v", c.devs[i].ID, stored, c.code[i] == "")
				}
			}
		})
	}
	tpl, err := d.Template(t.Context(), "tpl")
	if err != nil {
		t.Fatal(err)
	}
	if tpl.DeviceCount != 7 { // d0, d1, d2, d3, d5, d6, d8
		t.Errorf("DeviceCount = %d, want 7", tpl.DeviceCount)
	}
}

// A full template fails a batch's statement; each row then learns alone
// whether it still had room.
func TestBatchInsertCap(t *testing.T) {
	d := mustOpen(t, pgtest.Schema(t))
	batchTemplate(t, d, "capped", 2)
	errs := runBatch(d, batchDevice("capped", "c1", "m1"), batchDevice("capped", "c2", "m2"), batchDevice("capped", "c3", "m3"))
	var tally storetest.CapTally
	for _, err := range errs {
		tally.Add(t, err)
	}
	tally.Want(t, 2, 1)
}

// The batch statement stores what a device is created with besides the
// columns of TestBatchInsert: the voucher's expiry and the hardware
// identity, which the shared suite inserts one by one only.
func TestBatchInsertVoucherLife(t *testing.T) {
	d := mustOpen(t, pgtest.Schema(t))
	batchTemplate(t, d, "tpl", 0)
	expires := time.Now().UTC().Truncate(time.Microsecond).Add(time.Hour)
	bound, plain := batchDevice("tpl", "b1", "n1"), batchDevice("tpl", "b2", "n2")
	bound.VoucherExpiresAt = &expires
	bound.Hardware = otos.Hardware{IDHash: []byte("chip"), PublicKey: []byte("key")}
	statements := d.inserts.statements.Load()
	for _, err := range runBatch(d, bound, plain) {
		if err != nil {
			t.Fatal(err)
		}
	}
	if d.inserts.statements.Load() != statements+1 {
		t.Fatal("the batch was not inserted by one statement")
	}
	got, err := d.Device(t.Context(), bound.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.VoucherExpiresAt == nil || !got.VoucherExpiresAt.Equal(expires) ||
		string(got.Hardware.IDHash) != "chip" || string(got.Hardware.PublicKey) != "key" {
		t.Errorf("stored expiry %v, hardware %q key %q; want %v, chip, key",
			got.VoucherExpiresAt, got.Hardware.IDHash, got.Hardware.PublicKey, expires)
	}
	if got, err = d.Device(t.Context(), plain.ID); err != nil {
		t.Fatal(err)
	} else if got.VoucherExpiresAt != nil || got.Hardware.Bound() || got.Hardware.PublicKey != nil {
		t.Errorf("a device without expiry or hardware stored %v, %+v", got.VoucherExpiresAt, got.Hardware)
	}
}
