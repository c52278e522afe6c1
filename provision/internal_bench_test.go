package provision

import (
	"context"
	"testing"
	"time"

	"github.com/otos-iot/otos"
)

// BenchmarkSecretLookup measures what a registration spends to find its
// template when it is hot: the keyed hash of the secret and the view.
func BenchmarkSecretLookup(b *testing.B) {
	keys, err := NewKeyring(make([]byte, KeySize))
	if err != nil {
		b.Fatal(err)
	}
	s := New(Config{Keys: keys})
	secret := otos.Secret("oad4OrLxZ-ZB6scHaiIFc9TAr6aZlbS_")
	s.core.views.bySecret.Put(string(keys.Hash(secret)), "t", &otos.Template{ID: "t"}, time.Now().Add(time.Hour))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if t, err := s.core.views.templateBySecret(ctx, keys.Hash(secret)); t == nil || err != nil {
			b.Fatal("miss")
		}
	}
}

// BenchmarkNewVoucher measures minting a BASIC voucher and its stored form.
func BenchmarkNewVoucher(b *testing.B) {
	s := New(Config{})
	b.ReportAllocs()
	for b.Loop() {
		v, err := s.Registrar.newVoucher(otos.VoucherBasic)
		if err != nil {
			b.Fatal(err)
		}
		_ = v.Credential()
		_ = v.String()
	}
}
