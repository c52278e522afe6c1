package otos_test

import (
	"bytes"
	"crypto/sha256"
	"testing"

	"github.com/otos-iot/otos"
)

func TestVoucherLookup(t *testing.T) {
	// A key is the first 16 bytes of what it was before migration 0010,
	// which cut the stored keys to those.
	plain := func(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:otos.LookupSize] }
	cases := []struct {
		name, username string
		want           []byte
	}{
		// Vouchers issued before usernames were UUIDv7 keep their keys.
		{"v4", "6c2f1bdc-6fc2-4535-b0ba-f77fe9dc6db1", plain("6c2f1bdc-6fc2-4535-b0ba-f77fe9dc6db1")},
		{"v7", "019ad9a1-2b3c-7def-8123-456789abcdef",
			append([]byte{0x01, 0x9a, 0xd9, 0xa1, 0x2b, 0x3c}, plain("019ad9a1-2b3c-7def-8123-456789abcdef")[:10]...)},
		{"v7/upper-case", "019AD9A1-2B3C-7DEF-8123-456789ABCDEF", plain("019AD9A1-2B3C-7DEF-8123-456789ABCDEF")},
		{"v7/not-hex", "019ad9a1-2b3x-7def-8123-456789abcdef", plain("019ad9a1-2b3x-7def-8123-456789abcdef")},
		{"not-uuid", "device-token", plain("device-token")},
		{"empty", "", plain("")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := otos.VoucherLookup(c.username); !bytes.Equal(got, c.want) {
				t.Errorf("VoucherLookup(%q) = %x, want %x", c.username, got, c.want)
			}
		})
	}
}

// Keys of vouchers issued one after another sort in issue order, which is
// what keeps their index append-only.
func TestVoucherLookupSortsByTime(t *testing.T) {
	earlier := otos.VoucherLookup("019ad9a1-2b3c-7fff-bfff-ffffffffffff")
	later := otos.VoucherLookup("019ad9a1-2b3d-7000-8000-000000000000")
	if bytes.Compare(earlier, later) >= 0 {
		t.Errorf("lookup of the earlier voucher %x does not sort before the later %x", earlier, later)
	}
}

func FuzzVoucherLookup(f *testing.F) {
	f.Add("019ad9a1-2b3c-7def-8123-456789abcdef")
	f.Add("6c2f1bdc-6fc2-4535-b0ba-f77fe9dc6db1")
	f.Fuzz(func(t *testing.T, username string) {
		k := otos.VoucherLookup(username)
		if len(k) != otos.LookupSize {
			t.Fatalf("key of %d bytes", len(k))
		}
		if !bytes.Equal(k, otos.VoucherLookup(username)) {
			t.Fatal("not deterministic")
		}
	})
}
