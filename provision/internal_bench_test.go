package provision

import (
	"testing"
	"time"

	"github.com/otos-iot/otos"
)

// BenchmarkSecretLookup measures what a registration spends to find its
// template when it is hot: the keyed hash of the secret and the cache.
func BenchmarkSecretLookup(b *testing.B) {
	keys, err := NewKeyring(make([]byte, KeySize))
	if err != nil {
		b.Fatal(err)
	}
	var c templateCache
	now := time.Now()
	secret := otos.Secret("oad4OrLxZ-ZB6scHaiIFc9TAr6aZlbS_")
	c.put(keys.Hash(secret), &otos.Template{ID: "t"}, now)
	b.ReportAllocs()
	for b.Loop() {
		if c.get(keys.Hash(secret), now) == nil {
			b.Fatal("miss")
		}
	}
}

// BenchmarkNewVoucher measures minting a BASIC voucher and its stored form.
func BenchmarkNewVoucher(b *testing.B) {
	s := New(Config{})
	b.ReportAllocs()
	for b.Loop() {
		v, err := s.newVoucher(otos.VoucherBasic)
		if err != nil {
			b.Fatal(err)
		}
		_ = v.Credential()
		_ = v.String()
	}
}
