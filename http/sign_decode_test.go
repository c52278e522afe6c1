package http

import (
	"testing"

	"github.com/otos-iot/otos"
)

func TestDecodeSignedRequest(t *testing.T) {
	sign := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	base := `"template_id":"t1","device_number":"d1","nonce":"abcdefgh","sign_method":"hmac-sha256","sign":"` + sign + `"`
	cases := []struct {
		name, body, field string
		ts                string
	}{
		{"ok/number-timestamp", `{` + base + `,"timestamp":1764000000000}`, "", "1764000000000"},
		{"ok/string-timestamp", `{` + base + `,"timestamp":"1764000000000"}`, "", "1764000000000"},
		{"ok/product-key-instead", `{"product_key":"pk","device_number":"d1","nonce":"abcdefgh","sign_method":"hmac-sha256","sign":"` + sign + `","timestamp":1}`, "", "1"},
		{"fail/no-template", `{"device_number":"d1","nonce":"abcdefgh","sign_method":"hmac-sha256","sign":"` + sign + `","timestamp":1}`, "template_id", ""},
		{"fail/no-timestamp", `{` + base + `}`, "timestamp", ""},
		{"fail/float-timestamp", `{` + base + `,"timestamp":1.5}`, "timestamp", ""},
		{"fail/negative-timestamp", `{` + base + `,"timestamp":-1}`, "timestamp", ""},
		{"fail/bool-timestamp", `{` + base + `,"timestamp":true}`, "timestamp", ""},
		{"fail/short-nonce", `{"template_id":"t1","device_number":"d1","nonce":"abc","sign_method":"hmac-sha256","sign":"` + sign + `","timestamp":1}`, "nonce", ""},
		{"fail/method", `{"template_id":"t1","device_number":"d1","nonce":"abcdefgh","sign_method":"md5","sign":"` + sign + `","timestamp":1}`, "sign_method", ""},
		{"fail/sign", `{"template_id":"t1","device_number":"d1","nonce":"abcdefgh","sign_method":"hmac-sha256","sign":"zz","timestamp":1}`, "sign", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, err := DecodeAuthRequest([]byte(c.body))
			if c.field != "" {
				if otos.ErrorCode(err) != otos.EINVALID || otos.ErrorField(err) != c.field {
					t.Fatalf("got %v (field %q), want EINVALID on %s", err, otos.ErrorField(err), c.field)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !req.Signed() || req.Timestamp != c.ts {
				t.Errorf("signed %v, timestamp %q", req.Signed(), req.Timestamp)
			}
		})
	}
}

func TestSigningString(t *testing.T) {
	r := &otos.AuthRequest{DeviceNumber: "AA:01", DeviceName: "not signed", TemplateID: "t1", Timestamp: "1700000000000", Nonce: "n0nce-123", SubDeviceAddr: ""}
	want := "device_number=AA:01&nonce=n0nce-123&template_id=t1&timestamp=1700000000000"
	if got := r.SigningString(); got != want {
		t.Errorf("SigningString = %q, want %q", got, want)
	}
	sig := otos.Sign("secret", want)
	if !otos.VerifySign("secret", want, sig) || otos.VerifySign("secret2", want, sig) || otos.VerifySign("secret", want+"x", sig) {
		t.Error("VerifySign disagrees with Sign")
	}
}
