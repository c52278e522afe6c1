package bench

import (
	"crypto/rand"
	"encoding/json"
	"strconv"
	"time"

	"github.com/otos-iot/otos"
)

// bodies makes the request bodies of a run. Plain bodies are built from a
// prefix made once; a signed body is made anew for each request, since it
// carries a fresh nonce and the time.
type bodies struct {
	mode   Mode
	tag    string
	secret string // what is sent or signs: wrong in ModeBadSecret
	sign   bool
	tplID  string
	now    func() time.Time
	prefix []byte // `{"template_secret":"…","device_number":"`
	fixed  []byte // ModeRepeat's unsigned body: the same for every request
}

// newBodies prepares the bodies of c's requests.
func newBodies(c Config) *bodies {
	b := &bodies{mode: c.Mode, tag: c.Tag, secret: c.Secret, sign: c.Sign, tplID: c.TemplateID, now: c.Now}
	if c.Mode == ModeBadSecret {
		b.secret = "not-" + c.Secret
	}
	quoted, _ := json.Marshal(b.secret) // a string always marshals
	b.prefix = append(append([]byte(`{"template_secret":`), quoted...), `,"device_number":"`...)
	if c.Mode == ModeRepeat && !c.Sign {
		b.fixed = b.plain(b.number(0))
	}
	return b
}

// number returns the device number of request seq. The tag is checked to
// need no JSON escaping, and the rest is digits.
func (b *bodies) number(seq int64) string {
	if b.mode == ModeRepeat {
		return b.tag + "-fixed"
	}
	return b.tag + "-" + strconv.FormatInt(seq, 10)
}

// body returns the body of request seq and the device number it names.
func (b *bodies) body(seq int64) ([]byte, string) {
	n := b.number(seq)
	switch {
	case b.sign:
		return b.signed(n), n
	case b.fixed != nil:
		return b.fixed, n // read-only: shared by concurrent requests
	}
	return b.plain(n), n
}

// plain returns a body that carries the secret.
func (b *bodies) plain(number string) []byte {
	out := make([]byte, 0, len(b.prefix)+len(number)+2)
	out = append(out, b.prefix...)
	out = append(out, number...)
	return append(out, `"}`...)
}

// signedBody is a signed request: no secret, the signature of the others.
type signedBody struct {
	DeviceNumber string `json:"device_number"`
	TemplateID   string `json:"template_id"`
	Timestamp    string `json:"timestamp"`
	Nonce        string `json:"nonce"`
	SignMethod   string `json:"sign_method"`
	Sign         string `json:"sign"`
}

// signed returns a signed body for number, with a fresh nonce, made the way
// the server checks it (otos.AuthRequest.SigningString).
func (b *bodies) signed(number string) []byte {
	r := otos.AuthRequest{DeviceNumber: number, TemplateID: b.tplID,
		Timestamp: strconv.FormatInt(b.now().UnixMilli(), 10), Nonce: rand.Text()}
	body, _ := json.Marshal(signedBody{DeviceNumber: number, TemplateID: r.TemplateID, Timestamp: r.Timestamp,
		Nonce: r.Nonce, SignMethod: otos.SignMethodHMACSHA256, Sign: otos.Sign(otos.Secret(b.secret), r.SigningString())})
	return body
}
