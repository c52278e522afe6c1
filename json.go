package otos

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxAuthBody is the largest accepted device auth request, in bytes.
const MaxAuthBody = 16 << 10

// authBody is the wire form of AuthRequest. Unknown fields are ignored,
// as ThingsPanel does.
type authBody struct {
	TemplateSecret     string `json:"template_secret"`
	DeviceNumber       string `json:"device_number"`
	DeviceName         string `json:"device_name"`
	ProductKey         string `json:"product_key"`
	ParentDeviceNumber string `json:"parent_device_number"`
	SubDeviceAddr      string `json:"sub_device_addr"`
	// Signed requests.
	TemplateID string    `json:"template_id"`
	Timestamp  numberish `json:"timestamp"`
	Nonce      string    `json:"nonce"`
	SignMethod string    `json:"sign_method"`
	Sign       string    `json:"sign"`
	// Hardware identity.
	HardwareID   string `json:"hardware_id"`
	HardwareKey  string `json:"hardware_key"`
	HardwareSign string `json:"hardware_sign"`
}

// numberish is a JSON number or a string, kept as the text sent: firmware
// writes the timestamp either way, and the signature covers it as text.
type numberish string

// UnmarshalJSON implements json.Unmarshaler.
func (n *numberish) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*n = numberish(s)
		return nil
	}
	if string(b) == "null" {
		return nil
	}
	var num json.Number
	if err := json.Unmarshal(b, &num); err != nil {
		return &json.UnmarshalTypeError{Value: jsonKind(b), Type: reflect.TypeOf(int64(0))}
	}
	*n = numberish(num)
	return nil
}

// DecodeAuthRequest reads the JSON form of a device auth request, the same
// over every protocol. Every failure is an EINVALID error whose message
// names the field at fault; the core validates the fields (Validate).
func DecodeAuthRequest(body []byte) (*AuthRequest, error) {
	var b authBody
	if err := DecodeObject(body, &b, false); err != nil {
		return nil, err
	}
	return &AuthRequest{
		TemplateSecret:     Secret(b.TemplateSecret),
		DeviceNumber:       b.DeviceNumber,
		DeviceName:         b.DeviceName,
		ProductKey:         b.ProductKey,
		ParentDeviceNumber: b.ParentDeviceNumber,
		SubDeviceAddr:      b.SubDeviceAddr,
		TemplateID:         b.TemplateID,
		Timestamp:          string(b.Timestamp),
		Nonce:              b.Nonce,
		SignMethod:         b.SignMethod,
		Sign:               b.Sign,
		HardwareID:         b.HardwareID,
		HardwareKey:        b.HardwareKey,
		HardwareSign:       b.HardwareSign,
	}, nil
}

// DecodeObject unmarshals a JSON object into v, turning decoder errors into
// EINVALID errors that name the field. Invalid UTF-8 is refused rather than
// silently replaced, so that what is stored is what the client sent. With
// strict, a field v does not have is an error (admin API: catches typos);
// without, it is ignored, as ThingsPanel does.
func DecodeObject(body []byte, v any, strict bool) error {
	if len(body) == 0 {
		return &Error{Code: EINVALID, Reason: ReasonSyntax, Message: "Request body is empty; send a JSON object"}
	}
	if !utf8.Valid(body) {
		return &Error{Code: EINVALID, Reason: ReasonSyntax, Message: "Request body is not valid UTF-8"}
	}
	var err error
	if strict {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		err = dec.Decode(v)
		if err == nil && dec.InputOffset() < int64(len(bytes.TrimRight(body, " \t\r\n"))) {
			err = errors.New("trailing data")
		}
	} else {
		// Unmarshal refuses trailing data itself, without the Decoder's copy
		// of the body.
		err = json.Unmarshal(body, v)
	}
	var typeErr *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return FieldError(field, ReasonValue, "%s is not a known field", field)
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return FieldError(typeErr.Field, ReasonType, "%s must be a %s, not %s", typeErr.Field, typeName(typeErr), typeErr.Value)
	case errors.As(err, &typeErr):
		return &Error{Code: EINVALID, Reason: ReasonSyntax, Message: "Request body must be a JSON object, not " + typeErr.Value}
	default:
		return &Error{Code: EINVALID, Reason: ReasonSyntax, Message: "Request body is not valid JSON"}
	}
}

// jsonKind names the kind of the JSON value b, for messages.
func jsonKind(b []byte) string {
	switch b[0] {
	case 't', 'f':
		return "boolean"
	case '{':
		return "object"
	case '[':
		return "array"
	}
	return "number"
}

func typeName(e *json.UnmarshalTypeError) string {
	if e.Type == nil {
		return "value of another type"
	}
	switch e.Type.Kind().String() {
	case "string":
		return "string"
	case "int", "int64", "float64":
		return "number"
	case "bool":
		return "boolean"
	case "slice":
		return "list"
	case "struct", "map", "ptr":
		return "object"
	}
	return e.Type.String()
}

// AuthReply is the answer to a device auth request, the same over every
// protocol: ThingsPanel's {code, message, data}.
type AuthReply struct {
	Code    int       `json:"code"`
	Message string    `json:"message"`
	Data    *AuthData `json:"data,omitempty"`
}

// AuthData is the data of a successful answer.
type AuthData struct {
	DeviceID string `json:"device_id"`
	Voucher  string `json:"voucher"`
	// ExpiresAt is when the voucher stops being valid, for a template
	// that gives vouchers a lifetime: an extra field ThingsPanel firmware
	// ignores, left out under --compat-thingspanel.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// PreviousUntil, in the answer to a rotation, is when the voucher that
	// asked stops working, unless the new one is used sooner.
	PreviousUntil *time.Time `json:"previous_voucher_until,omitempty"`
}

// ThingsPanel returns r as ThingsPanel writes it: without the fields it
// does not have.
func (r AuthReply) ThingsPanel() AuthReply {
	if r.Data != nil {
		r.Data = &AuthData{DeviceID: r.Data.DeviceID, Voucher: r.Data.Voucher}
	}
	return r
}

// NewAuthReply returns the answer, in language l, to a registration that
// issued iss or failed with err.
func NewAuthReply(iss *Issued, err error, l Language) AuthReply {
	if err != nil {
		return AuthReply{Code: ErrorCode(err).Number(), Message: Message(err, l)}
	}
	return AuthReply{Code: CodeOK, Message: SuccessMessage(l),
		Data: &AuthData{DeviceID: iss.Device.ID, Voucher: iss.Voucher.String(), ExpiresAt: iss.Device.VoucherExpiresAt,
			PreviousUntil: iss.Device.PreviousUntil}}
}
