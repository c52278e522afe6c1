package http

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/otos-iot/otos"
)

func TestLanguage(t *testing.T) {
	for header, want := range map[string]otos.Language{
		"":                         otos.English,
		"en-US,en;q=0.9":           otos.English,
		"zh":                       otos.Chinese,
		"zh-CN":                    otos.Chinese,
		"ZH-tw":                    otos.Chinese,
		"en;q=0.5, zh-CN;q=0.9":    otos.Chinese,
		"zh;q=0.1, en":             otos.English,
		"zhx":                      otos.English,
		"fr, zh;q=0.8, en;q=0.7":   otos.English,
		"garbage;q=x, zh;q=oops,,": otos.English,
		",,zh;q=oops":              otos.Chinese,
	} {
		if got := language(header); got != want {
			t.Errorf("language(%q) = %v, want %v", header, got, want)
		}
	}
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
