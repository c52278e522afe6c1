package device

import (
	"bytes"
	"context"
	"crypto/ed25519"
	crand "crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/otos-iot/otos"
)

// AuthPath is the device auth route, relative to Config.Server.
const AuthPath = "/api/v1/device/auth"

// Result codes of the auth API (ThingsPanel's numbers), found in
// AuthError.Code.
const (
	CodeOK              = 200
	CodeInternal        = 100001 // unexpected server error: retried
	CodeInvalid         = 100002 // a field of the request is invalid
	CodeUnavailable     = 100003 // the server's store is unavailable: retried
	CodeSecretUnknown   = 200080
	CodeRegistrationOff = 200081
	CodeDeviceExists    = 200082 // registered already, and may not register again
	CodeProductUnknown  = 200083
	CodeSubDeviceFields = 200084
	CodeParentUnknown   = 200085
	CodeSubAddrTaken    = 200086
	CodeTooMany         = 201003 // over a rate limit, or locked out: retried after a while
)

// Retry timing. Waits grow from backoffBase, doubling, up to backoffMax, with
// jitter so that a fleet that lost its server does not come back in step.
const (
	backoffBase = time.Second
	backoffMax  = 30 * time.Second
	// maxRetryAfter is the longest Retry-After honoured inside one call; a
	// longer one ends Provision with the AuthError, which carries it.
	maxRetryAfter = 5 * time.Minute
	// maxAnswer bounds the answer read; a real one is a few hundred bytes.
	maxAnswer = 64 << 10
)

// AuthError is an answer of the auth API that carries no voucher: a refusal
// (Code 200080 and up, 100002) or a failure of the server (HTTP 429 or 5xx,
// Code 100001 or 100003).
type AuthError struct {
	HTTPStatus int
	// Code is the body's result code; 0 when the body was not the API's
	// JSON envelope (a proxy's error page, say).
	Code    int
	Message string
	// RetryAfter is the wait the server asked for, 0 if it did not.
	RetryAfter time.Duration
}

// Error implements error.
func (e *AuthError) Error() string {
	return fmt.Sprintf("device auth: HTTP %d, code %d: %s", e.HTTPStatus, e.Code, e.Message)
}

// Temporary reports whether asking again later may succeed: the server was
// overloaded, unavailable or failed, as opposed to refusing the device. A
// server in ThingsPanel compatibility mode answers HTTP 200 to everything,
// so the body's code counts as much as the status.
func (e *AuthError) Temporary() bool {
	return e.HTTPStatus == http.StatusTooManyRequests || e.HTTPStatus >= 500 ||
		e.Code == CodeInternal || e.Code == CodeUnavailable || e.Code == CodeTooMany
}

// Provision returns the device's voucher: the cached one if the cache holds
// one for this device and server, else a new one from the server, which it
// caches before returning it.
//
// Network errors and temporary answers (see AuthError.Temporary) are retried
// up to MaxAttempts in all, waiting with exponential backoff and jitter, or
// as long as the server's Retry-After says. A refusal is returned at once as
// an *AuthError: asking again would get the same answer.
func Provision(ctx context.Context, cfg Config) (*Voucher, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	v, _, err := provision(ctx, c)
	return v, err
}

// provision is Provision on a checked Config; cached tells where v came from.
func provision(ctx context.Context, c Config) (v *Voucher, cached bool, err error) {
	if v := loadCache(c); v != nil {
		c.Logger.Info("using cached voucher", "device_number", c.DeviceNumber, "device_id", v.DeviceID)
		return v, true, nil
	}
	v, err = register(ctx, c)
	return v, false, err
}

// register asks the server for a voucher, retrying what may pass, and
// caches it. A voucher that cannot be cached is not returned: a device that
// connected with it and then lost it could not get another, since the server
// answers 200082 to a device that has connected.
func register(ctx context.Context, c Config) (*Voucher, error) {
	for attempt := 1; ; attempt++ {
		// A signed request is signed anew for each attempt: a retry with
		// the same nonce would be refused as a replay.
		body, err := requestBody(c)
		if err != nil {
			return nil, err
		}
		auth := authOnce
		if c.RegisterOverMQTT {
			auth = authOverMQTT
		}
		v, raw, err := auth(ctx, c, body)
		if err == nil {
			v.IssuedAt = c.Now()
			if err := saveCache(c, v, raw); err != nil {
				return nil, err
			}
			c.Logger.Info("voucher issued and cached", "device_number", c.DeviceNumber, "device_id", v.DeviceID, "path", c.CachePath)
			return v, nil
		}
		wait, retry := retryDelay(err, attempt)
		if !retry || attempt >= c.MaxAttempts || ctx.Err() != nil {
			if attempt > 1 {
				return nil, fmt.Errorf("%w (after %d attempts)", err, attempt)
			}
			return nil, err
		}
		c.Logger.Warn("device auth failed; retrying", "attempt", attempt, "wait", wait, "err", err)
		if err := c.Sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("device auth: gave up waiting to retry: %w", err)
		}
	}
}

// authRequest is the body of POST /api/v1/device/auth.
type authRequest struct {
	TemplateSecret     string `json:"template_secret,omitempty"`
	DeviceNumber       string `json:"device_number"`
	DeviceName         string `json:"device_name,omitempty"`
	ProductKey         string `json:"product_key,omitempty"`
	ParentDeviceNumber string `json:"parent_device_number,omitempty"`
	SubDeviceAddr      string `json:"sub_device_addr,omitempty"`
	TemplateID         string `json:"template_id,omitempty"`
	Timestamp          string `json:"timestamp,omitempty"`
	Nonce              string `json:"nonce,omitempty"`
	SignMethod         string `json:"sign_method,omitempty"`
	Sign               string `json:"sign,omitempty"`
	HardwareID         string `json:"hardware_id,omitempty"`
	HardwareKey        string `json:"hardware_key,omitempty"`
	HardwareSign       string `json:"hardware_sign,omitempty"`
}

// requestBody returns the auth request: with the secret, or signed with it
// (a fresh nonce and the current time) so that the secret never travels;
// with a hardware key, signed with that key too.
func requestBody(c Config) ([]byte, error) {
	r := authRequest{DeviceNumber: c.DeviceNumber, DeviceName: c.DeviceName, ProductKey: c.ProductKey,
		ParentDeviceNumber: c.ParentDeviceNumber, SubDeviceAddr: c.SubDeviceAddr, HardwareID: c.HardwareID}
	if !c.Sign {
		r.TemplateSecret = c.TemplateSecret
	}
	if c.Sign || c.HardwareKey != nil {
		nonce := make([]byte, 12)
		if _, err := crand.Read(nonce); err != nil {
			return nil, err
		}
		r.Nonce, r.Timestamp = hex.EncodeToString(nonce), strconv.FormatInt(c.Now().UnixMilli(), 10)
	}
	canon := otos.AuthRequest{DeviceNumber: r.DeviceNumber, ProductKey: r.ProductKey, ParentDeviceNumber: r.ParentDeviceNumber,
		SubDeviceAddr: r.SubDeviceAddr, Timestamp: r.Timestamp, Nonce: r.Nonce, HardwareID: r.HardwareID}
	if c.Sign {
		r.TemplateID, r.SignMethod = c.TemplateID, otos.SignMethodHMACSHA256
		canon.TemplateID = r.TemplateID
		r.Sign = otos.Sign(otos.Secret(c.TemplateSecret), canon.SigningString())
	}
	if c.HardwareKey != nil {
		r.HardwareKey = base64.StdEncoding.EncodeToString(c.HardwareKey.Public().(ed25519.PublicKey))
		r.HardwareSign = base64.StdEncoding.EncodeToString(ed25519.Sign(c.HardwareKey, []byte(canon.SigningString())))
	}
	return json.Marshal(r)
}

// authOnce sends one auth request. It returns the voucher and its wire form,
// an *AuthError for an answer without a voucher, or the transport's error.
func authOnce(ctx context.Context, c Config, body []byte) (*Voucher, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(c.Server, "/")+AuthPath, bytes.NewReader(body))
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	res, err := c.HTTPClient.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("device auth: %w", err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxAnswer))
	if err != nil {
		return nil, "", fmt.Errorf("device auth: read answer: %w", err)
	}
	return parseAnswer(res.StatusCode, res.Header, b)
}

// parseAnswer reads an answer of the auth API. Success is HTTP 200 with code
// 200 and a voucher; anything else is an *AuthError.
func parseAnswer(status int, h http.Header, body []byte) (*Voucher, string, error) {
	fail := &AuthError{HTTPStatus: status, RetryAfter: parseRetryAfter(h.Get("Retry-After"), time.Now())}
	var env struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Data    *struct {
			DeviceID  string     `json:"device_id"`
			Voucher   string     `json:"voucher"`
			ExpiresAt *time.Time `json:"expires_at"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		fail.Message = "the answer is not the auth API's JSON envelope: " + http.StatusText(status)
		return nil, "", fail
	}
	fail.Code, fail.Message = env.Code, env.Message
	if status != http.StatusOK || env.Code != CodeOK {
		return nil, "", fail
	}
	if env.Data == nil {
		fail.Message = "success without data"
		return nil, "", fail
	}
	v, err := parseVoucher(env.Data.DeviceID, env.Data.Voucher)
	if err != nil {
		fail.Message = err.Error()
		return nil, "", fail
	}
	if env.Data.ExpiresAt != nil {
		v.ExpiresAt = *env.Data.ExpiresAt
	}
	return v, env.Data.Voucher, nil
}

// parseVoucher decodes the voucher string: {"username":…,"password":…}
// (BASIC) or {"username":…} (ACCESSTOKEN). Its errors never quote the
// voucher, a secret.
func parseVoucher(deviceID, raw string) (*Voucher, error) {
	var w struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if err := json.Unmarshal([]byte(raw), &w); err != nil {
		return nil, errors.New("the voucher is not a JSON object of strings")
	}
	if w.Username == "" {
		return nil, errors.New("the voucher has no username")
	}
	if deviceID == "" {
		return nil, errors.New("the answer has no device_id")
	}
	return &Voucher{DeviceID: deviceID, Username: w.Username, Password: w.Password}, nil
}

// parseRetryAfter reads a Retry-After header: delay seconds or an HTTP date.
// It returns 0 when there is none or it cannot be read.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
		const day = 24 * 60 * 60 // clamped: no overflow, and beyond maxRetryAfter anyway
		return time.Duration(min(max(s, 0), day)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}

// retryDelay says whether err may pass if retried, and after what wait.
// Network errors and temporary answers are retried; the server's
// Retry-After, when given, replaces the backoff.
func retryDelay(err error, attempt int) (time.Duration, bool) {
	var ae *AuthError
	if !errors.As(err, &ae) {
		return backoff(attempt), true
	}
	switch {
	case !ae.Temporary() || ae.RetryAfter > maxRetryAfter:
		return 0, false
	case ae.RetryAfter > 0:
		return ae.RetryAfter, true
	default:
		return backoff(attempt), true
	}
}

// backoff is the wait after the attempt-th failure: backoffBase doubled each
// time up to backoffMax, less a random part of up to half (jitter).
func backoff(attempt int) time.Duration {
	d := backoffMax
	if attempt < 16 {
		d = min(backoffBase<<(attempt-1), backoffMax)
	}
	return d/2 + rand.N(d/2+1)
}
