package device

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/otos-iot/otos"
)

// RotatePath is the device API's rotation endpoint.
const RotatePath = "/api/v1/device/voucher/rotate"

// RenewAt returns when v should be renewed: at two thirds of its lifetime,
// moved by up to a twelfth of the lifetime either way by u (in [0, 1)), so
// that a fleet registered in one hour does not renew in one second. Zero
// when v does not expire.
func (v *Voucher) RenewAt(u float64) time.Time {
	if v.ExpiresAt.IsZero() {
		return time.Time{}
	}
	issued := v.IssuedAt
	if issued.IsZero() || !issued.Before(v.ExpiresAt) {
		issued = v.ExpiresAt.Add(-time.Hour) // unknown: renew an hour before, give or take
	}
	life := v.ExpiresAt.Sub(issued)
	jitter := time.Duration((u*2 - 1) * float64(life) / 12)
	return issued.Add(life*2/3 + jitter)
}

// renewDue renews a cached voucher over HTTP when its renewal time has come
// (Voucher.RenewAt), and returns the voucher to connect with: the new one,
// or v when no renewal was due or it failed (logged; v may still work).
func renewDue(ctx context.Context, c Config, v *Voucher) *Voucher {
	at := v.RenewAt(c.Jitter())
	if at.IsZero() || c.Now().Before(at) || c.RegisterOverMQTT {
		return v
	}
	nv, err := rotateHTTP(ctx, c, v)
	if err != nil {
		c.Logger.Warn("voucher renewal failed; connecting with the cached one", "device_number", c.DeviceNumber,
			"expires_at", v.ExpiresAt, "err", err)
		return v
	}
	return nv
}

// Rotate trades the device's cached voucher for a new one over HTTP (POST
// /api/v1/device/voucher/rotate, the voucher as Basic credentials) and
// caches the new one before returning it. The old voucher keeps working
// for the template's overlap, or until the new one is used.
func Rotate(ctx context.Context, cfg Config) (*Voucher, error) {
	c, err := cfg.defaults(false)
	if err != nil {
		return nil, err
	}
	v := loadCache(c)
	if v == nil {
		return nil, errors.New("device: no cached voucher to rotate")
	}
	return rotateHTTP(ctx, c, v)
}

// rotateHTTP rotates v over HTTP and caches the new voucher.
func rotateHTTP(ctx context.Context, c Config, v *Voucher) (*Voucher, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(c.Server, "/")+RotatePath, http.NoBody)
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth(v.Username, v.Password)
	req.Header.Set("Accept", "application/json")
	res, err := c.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("voucher rotation: %w", err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxAnswer))
	if err != nil {
		return nil, fmt.Errorf("voucher rotation: read answer: %w", err)
	}
	nv, raw, err := parseAnswer(res.StatusCode, res.Header, b)
	if err != nil {
		return nil, err
	}
	return keepRotated(c, nv, raw)
}

// keepRotated caches a voucher that a rotation issued.
func keepRotated(c Config, v *Voucher, raw string) (*Voucher, error) {
	v.IssuedAt = c.Now()
	if err := saveCache(c, v, raw); err != nil {
		return nil, err
	}
	c.Logger.Info("voucher rotated and cached", "device_number", c.DeviceNumber, "device_id", v.DeviceID,
		"expires_at", v.ExpiresAt)
	return v, nil
}

// Voucher returns the voucher the session connected with.
func (s *Session) Voucher() Voucher { return *s.voucher }

// RenewAt returns when the session's voucher should be renewed (see
// Voucher.RenewAt), with the configuration's jitter; zero when it does not
// expire.
func (s *Session) RenewAt() time.Time { return s.voucher.RenewAt(s.cfg.Jitter()) }

// Rotate trades the session's voucher for a new one over MQTT (otos's
// embedded broker: a request on devices/voucher/rotate/{id}, the answer on
// devices/voucher/rotate/response/{id}) and caches it. The session goes on
// with the old voucher: connect again to use the new one, which ends the
// old one's overlap.
func (s *Session) Rotate(ctx context.Context) (*Voucher, error) {
	id := make([]byte, 8)
	if _, err := crand.Read(id); err != nil {
		return nil, err
	}
	rid := hex.EncodeToString(id)
	answers := make(chan []byte, 1)
	sub := s.client.Subscribe(otos.RotateResponsePrefix+rid, 1, func(_ paho.Client, m paho.Message) {
		select {
		case answers <- m.Payload():
		default:
		}
	})
	if err := wait(ctx, sub, s.done); err != nil {
		return nil, fmt.Errorf("voucher rotation over mqtt: subscribe: %w", err)
	}
	defer s.client.Unsubscribe(otos.RotateResponsePrefix + rid)
	if err := wait(ctx, s.client.Publish(otos.RotatePrefix+rid, 1, false, []byte("{}")), s.done); err != nil {
		return nil, fmt.Errorf("voucher rotation over mqtt: publish: %w", err)
	}
	select {
	case b := <-answers:
		v, raw, err := parseAnswer(http.StatusOK, http.Header{}, b)
		if err != nil {
			return nil, err
		}
		return keepRotated(s.cfg, v, raw)
	case <-time.After(answerTimeout):
		return nil, fmt.Errorf("voucher rotation over mqtt: no answer within %v", answerTimeout)
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.done:
		return nil, errors.New("voucher rotation over mqtt: connection lost")
	}
}

// OnControl subscribes to the device's control topic, where otos tells it
// that an operator asked it to rotate its voucher, and calls handle with
// each notice, one at a time: handle should return quickly.
func (s *Session) OnControl(ctx context.Context, handle func(otos.ControlNotice)) error {
	topic := otos.ControlTopic(s.number)
	tok := s.client.Subscribe(topic, 1, func(_ paho.Client, m paho.Message) {
		var n otos.ControlNotice
		if json.Unmarshal(m.Payload(), &n) == nil && n.Action != "" {
			handle(n)
		}
	})
	if err := wait(ctx, tok, s.done); err != nil {
		return fmt.Errorf("subscribe to %s: %w", topic, err)
	}
	if tok.(*paho.SubscribeToken).Result()[topic] == subscribeRefused {
		return fmt.Errorf("subscribe to %s: the broker refused it", topic)
	}
	return nil
}
