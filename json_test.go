package otos

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// parseAuth is what the core does with an auth body: decode, then validate.
func parseAuth(body []byte) (*AuthRequest, error) {
	req, err := DecodeAuthRequest(body)
	if err != nil {
		return nil, err
	}
	return req, req.Validate()
}

func TestDecodeAuthRequest(t *testing.T) {
	cases := []struct {
		name, body, field string
		code              Code
	}{
		{"ok", `{"template_secret":"s","device_number":"d"}`, "", ""},
		{"fail/trailing-data", `{"template_secret":"s","device_number":"d"} x`, "", EINVALID},
		{"fail/second-object", `{"template_secret":"s","device_number":"d"}{}`, "", EINVALID},
		{"ok/unknown-fields", `{"template_secret":"s","device_number":"d","x":[1,{"y":null}]}`, "", ""},
		{"ok/null-optional", `{"template_secret":"s","device_number":"d","device_name":null}`, "", ""},
		{"ok/chinese-name", `{"template_secret":"s","device_number":"d","device_name":"客厅温度计"}`, "", ""},
		{"fail/null-required", `{"template_secret":"s","device_number":null}`, "device_number", EINVALID},
		{"fail/type", `{"template_secret":"s","device_number":1}`, "device_number", EINVALID},
		{"fail/control", `{"template_secret":"s","device_number":"a\tb"}`, "device_number", EINVALID},
		{"fail/del", `{"template_secret":"s","device_number":"a\u007fb"}`, "device_number", EINVALID},
		{"fail/blank-name", `{"template_secret":"s","device_number":"d","device_name":"   "}`, "device_name", EINVALID},
		{"fail/secret-too-long", `{"template_secret":"` + strings.Repeat("s", 257) + `","device_number":"d"}`, "template_secret", EINVALID},
		{"ok/100-runes", `{"template_secret":"s","device_number":"` + strings.Repeat("设", 100) + `"}`, "", ""},
		{"fail/101-runes", `{"template_secret":"s","device_number":"` + strings.Repeat("设", 101) + `"}`, "device_number", EINVALID},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseAuth([]byte(c.body))
			if ErrorCode(err) != c.code || ErrorField(err) != c.field {
				t.Fatalf("got %v (field %q), want %q field %q", err, ErrorField(err), c.code, c.field)
			}
		})
	}
}

// FuzzDecodeAuthRequest feeds arbitrary bodies to the decoder: it must never
// panic, every failure must be EINVALID with a message, and every success
// must satisfy the validation rules.
func FuzzDecodeAuthRequest(f *testing.F) {
	for _, seed := range []string{
		`{"template_secret":"s","device_number":"d"}`,
		`{"template_secret":"s","device_number":"d","parent_device_number":"p","sub_device_addr":"1"}`,
		`[]`, `null`, `"x"`, `{`, `{"device_number":1}`, "{\"device_number\":\"\xff\"}",
		`{"template_secret":"s","device_number":"a\u0000"}`,
		`{"template_id":"t","device_number":"d","timestamp":1764000000000,"nonce":"abcdefgh","sign_method":"hmac-sha256","sign":"` + strings.Repeat("ab", 32) + `"}`,
		`{"product_key":"p","device_number":"d","timestamp":"17","nonce":"abcdefgh","sign_method":"hmac-sha256","sign":"00"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := parseAuth(body)
		if err != nil {
			if ErrorCode(err) != EINVALID || ErrorMessage(err) == "" {
				t.Fatalf("error %v is not a client error with a message", err)
			}
			return
		}
		for _, v := range []string{string(req.TemplateSecret), req.DeviceNumber, req.DeviceName, req.ProductKey, req.ParentDeviceNumber, req.SubDeviceAddr} {
			if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
				t.Fatalf("accepted an invalid field %q", v)
			}
		}
		proof := req.TemplateSecret != "" || req.Signed() && req.Sign != "" && req.Nonce != "" && req.Timestamp != "" &&
			(req.TemplateID != "" || req.ProductKey != "")
		if !proof || req.DeviceNumber == "" || utf8.RuneCountInString(req.DeviceNumber) > MaxDeviceNumberLen {
			t.Fatalf("accepted %+v", req)
		}
	})
}

// BenchmarkDecodeAuthRequest measures decoding and validating one auth body,
// what every registration costs before the core looks anything up.
func BenchmarkDecodeAuthRequest(b *testing.B) {
	body := []byte(`{"template_secret":"oad4OrLxZ-ZB6scHaiIFc9TAr6aZlbS_","device_number":"AA:BB:CC:DD:EE:01","device_name":"Kitchen"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseAuth(body); err != nil {
			b.Fatal(err)
		}
	}
}

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
			req, err := parseAuth([]byte(c.body))
			if c.field != "" {
				if ErrorCode(err) != EINVALID || ErrorField(err) != c.field {
					t.Fatalf("got %v (field %q), want EINVALID on %s", err, ErrorField(err), c.field)
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
	r := &AuthRequest{DeviceNumber: "AA:01", DeviceName: "not signed", TemplateID: "t1", Timestamp: "1700000000000", Nonce: "n0nce-123", SubDeviceAddr: ""}
	want := "device_number=AA:01&nonce=n0nce-123&template_id=t1&timestamp=1700000000000"
	if got := r.SigningString(); got != want {
		t.Errorf("SigningString = %q, want %q", got, want)
	}
	sig := Sign("secret", want)
	if !VerifySign("secret", want, sig) || VerifySign("secret2", want, sig) || VerifySign("secret", want+"x", sig) {
		t.Error("VerifySign disagrees with Sign")
	}
}
