package device

import (
	"net/http"
	"testing"
)

// FuzzParseAnswer: any answer of a server, hostile or broken, gives a voucher
// with a username and a device id, or an *AuthError; never a panic.
func FuzzParseAnswer(f *testing.F) {
	f.Add(200, "7", `{"code":200,"message":"Success","data":{"device_id":"d","voucher":"{\"username\":\"u\",\"password\":\"p\"}"}}`)
	f.Add(200, "", `{"code":200080,"message":"Template secret does not exist"}`)
	f.Add(429, "Wed, 21 Oct 2015 07:28:00 GMT", `{"code":100003}`)
	f.Add(200, "-1", `{"code":200,"data":{"device_id":"d","voucher":"{\"username\":7}"}}`)
	f.Add(502, "x", `<html>`)
	f.Fuzz(func(t *testing.T, status int, retryAfter, body string) {
		h := http.Header{}
		h.Set("Retry-After", retryAfter)
		v, raw, err := parseAnswer(status, h, []byte(body))
		if err == nil {
			if v.Username == "" || v.DeviceID == "" || raw == "" {
				t.Fatalf("success without a username, device id or voucher: %v", v)
			}
			return
		}
		ae, ok := err.(*AuthError)
		if !ok {
			t.Fatalf("error %T, want *AuthError", err)
		}
		if ae.RetryAfter < 0 {
			t.Fatalf("negative Retry-After %v", ae.RetryAfter)
		}
	})
}
