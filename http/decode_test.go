package http

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/otos-iot/otos"
)

func TestDecodeAuthRequest(t *testing.T) {
	cases := []struct {
		name, body, field string
		code              otos.Code
	}{
		{"ok", `{"template_secret":"s","device_number":"d"}`, "", ""},
		{"fail/trailing-data", `{"template_secret":"s","device_number":"d"} x`, "", otos.EINVALID},
		{"fail/second-object", `{"template_secret":"s","device_number":"d"}{}`, "", otos.EINVALID},
		{"ok/unknown-fields", `{"template_secret":"s","device_number":"d","x":[1,{"y":null}]}`, "", ""},
		{"ok/null-optional", `{"template_secret":"s","device_number":"d","device_name":null}`, "", ""},
		{"ok/chinese-name", `{"template_secret":"s","device_number":"d","device_name":"客厅温度计"}`, "", ""},
		{"fail/null-required", `{"template_secret":"s","device_number":null}`, "device_number", otos.EINVALID},
		{"fail/type", `{"template_secret":"s","device_number":1}`, "device_number", otos.EINVALID},
		{"fail/control", `{"template_secret":"s","device_number":"a\tb"}`, "device_number", otos.EINVALID},
		{"fail/del", `{"template_secret":"s","device_number":"a\u007fb"}`, "device_number", otos.EINVALID},
		{"fail/blank-name", `{"template_secret":"s","device_number":"d","device_name":"   "}`, "device_name", otos.EINVALID},
		{"fail/secret-too-long", `{"template_secret":"` + strings.Repeat("s", 257) + `","device_number":"d"}`, "template_secret", otos.EINVALID},
		{"ok/100-runes", `{"template_secret":"s","device_number":"` + strings.Repeat("设", 100) + `"}`, "", ""},
		{"fail/101-runes", `{"template_secret":"s","device_number":"` + strings.Repeat("设", 101) + `"}`, "device_number", otos.EINVALID},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodeAuthRequest([]byte(c.body))
			if otos.ErrorCode(err) != c.code || otos.ErrorField(err) != c.field {
				t.Fatalf("got %v (field %q), want %q field %q", err, otos.ErrorField(err), c.code, c.field)
			}
		})
	}
}

func TestLanguage(t *testing.T) {
	for header, want := range map[string]Language{
		"":                         English,
		"en-US,en;q=0.9":           English,
		"zh":                       Chinese,
		"zh-CN":                    Chinese,
		"ZH-tw":                    Chinese,
		"en;q=0.5, zh-CN;q=0.9":    Chinese,
		"zh;q=0.1, en":             English,
		"zhx":                      English,
		"fr, zh;q=0.8, en;q=0.7":   English,
		"garbage;q=x, zh;q=oops,,": English,
		",,zh;q=oops":              Chinese,
	} {
		if got := language(header); got != want {
			t.Errorf("language(%q) = %v, want %v", header, got, want)
		}
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
		req, err := DecodeAuthRequest(body)
		if err != nil {
			if otos.ErrorCode(err) != otos.EINVALID || otos.ErrorMessage(err) == "" {
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
		if !proof || req.DeviceNumber == "" || utf8.RuneCountInString(req.DeviceNumber) > otos.MaxDeviceNumberLen {
			t.Fatalf("accepted %+v", req)
		}
	})
}

// FuzzParseNumberCSV feeds arbitrary bodies to the allow-list CSV reader: it
// must never panic, and every number it returns is non-empty and trimmed.
func FuzzParseNumberCSV(f *testing.F) {
	for _, seed := range []string{"device_number\na\nb\n", "a,b,c\n\"q\"\"x\",y\n", "\"unterminated\n", "\xff\xfe\n", ""} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		numbers, err := parseNumberCSV(body)
		if err != nil {
			if otos.ErrorCode(err) != otos.EINVALID {
				t.Fatalf("error %v is not EINVALID", err)
			}
			return
		}
		for _, n := range numbers {
			if n == "" || strings.TrimSpace(n) != n {
				t.Fatalf("returned %q", n)
			}
		}
	})
}

// BenchmarkDecodeAuthRequest measures decoding and validating one auth body.
func BenchmarkDecodeAuthRequest(b *testing.B) {
	body := []byte(`{"template_secret":"oad4OrLxZ-ZB6scHaiIFc9TAr6aZlbS_","device_number":"AA:BB:CC:DD:EE:01","device_name":"Kitchen"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeAuthRequest(body); err != nil {
			b.Fatal(err)
		}
	}
}

// readBody answers what the body is, whatever length it declares: a body
// shorter than its Content-Length is unreadable, one declared or sent
// beyond the limit too large, and a body of unknown length, or one longer
// than is worth allocating before it arrives, is read up to the limit.
// (net/http itself ends a body at its Content-Length.)
func TestReadBody(t *testing.T) {
	const limit = presizeMax + 64
	big := strings.Repeat("y", presizeMax+1)
	cases := []struct {
		name     string
		body     string
		declared int64 // Content-Length; -1: unknown (chunked)
		want     string
		code     otos.Code
	}{
		{"declared", `{"a":1}`, 7, `{"a":1}`, ""},
		{"unknown-length", `{"a":1}`, -1, `{"a":1}`, ""},
		{"empty", ``, 0, ``, ""},
		{"shorter-than-declared", `{"a"`, 7, "", otos.EINVALID},
		{"declared-over-limit", strings.Repeat("x", limit+1), limit + 1, "", otos.ETOOLARGE},
		{"unknown-over-limit", strings.Repeat("x", limit+1), -1, "", otos.ETOOLARGE},
		{"declared-beyond-presize", big, int64(len(big)), big, ""},
		// Beyond presizeMax nothing is allocated for the declared length, so
		// the body is read as it arrives: this test's body, unlike
		// net/http's, does not stop a short one with an error.
		{"beyond-presize-read-as-it-comes", big, limit, big, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", io.NopCloser(strings.NewReader(c.body)))
			r.ContentLength = c.declared
			b, err := readBody(httptest.NewRecorder(), r, limit)
			if got := otos.ErrorCode(err); got != c.code {
				t.Fatalf("code %q (%v), want %q", got, err, c.code)
			}
			if err == nil && string(b) != c.want {
				t.Errorf("body %q, want %q", b, c.want)
			}
		})
	}
}
