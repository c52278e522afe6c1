package device

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/otos-iot/otos"
)

// RegisterSubDevices registers sub-devices of the gateway whose session s
// is, in one message of up to otos.MaxSubDeviceBatch: it subscribes to the
// answer of a fresh request id, publishes the batch on
// gateway/register/<id> and returns one result per entry, in order (each
// with its voucher, or its code). The gateway's template must grant the
// sub-devices' template. An error means the batch as a whole was not read:
// an *AuthError with its code, or the transport's.
func (s *Session) RegisterSubDevices(ctx context.Context, entries []otos.SubDeviceRequest) ([]otos.SubDeviceResult, error) {
	raw := make([]byte, 8)
	if _, err := crand.Read(raw); err != nil {
		return nil, err
	}
	id := hex.EncodeToString(raw)
	body, err := json.Marshal(map[string]any{"sub_devices": entries})
	if err != nil {
		return nil, err
	}
	answers := make(chan []byte, 1)
	topic := otos.GatewayRegisterResponsePrefix + id
	if err := wait(ctx, s.client.Subscribe(topic, 1, func(_ paho.Client, m paho.Message) {
		select {
		case answers <- m.Payload():
		default:
		}
	}), s.done); err != nil {
		return nil, fmt.Errorf("gateway batch: subscribe: %w", err)
	}
	defer s.client.Unsubscribe(topic)
	if err := s.Publish(ctx, otos.GatewayRegisterPrefix+id, body); err != nil {
		return nil, fmt.Errorf("gateway batch: %w", err)
	}
	select {
	case b := <-answers:
		var r otos.BatchReply
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, &AuthError{HTTPStatus: 200, Message: "the answer is not a batch answer"}
		}
		if r.Code != CodeOK || r.Data == nil {
			return nil, &AuthError{HTTPStatus: 200, Code: r.Code, Message: r.Message}
		}
		return r.Data.SubDevices, nil
	case <-time.After(answerTimeout):
		return nil, fmt.Errorf("gateway batch: no answer within %v", answerTimeout)
	case <-s.done:
		return nil, fmt.Errorf("gateway batch: connection lost")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// ConnectSubDevice keeps the voucher that a gateway's batch issued to a
// sub-device (r, a result with a voucher) in cfg.CachePath, as Provision
// would, and opens the sub-device's own session with it. cfg needs Broker
// and CachePath, and Server (or RegisterOverMQTT) as for Connect; its
// device number is r's, and no template secret is needed.
func ConnectSubDevice(ctx context.Context, cfg Config, r otos.SubDeviceResult) (*Session, error) {
	cfg.DeviceNumber, cfg.ClientID = r.DeviceNumber, "" // its own client id: its number
	c, err := cfg.defaults(false)
	if err != nil {
		return nil, err
	}
	v, err := parseVoucher(r.DeviceID, r.Voucher)
	if err != nil {
		return nil, fmt.Errorf("sub-device %s: %w", r.DeviceNumber, err)
	}
	v.IssuedAt = c.Now()
	if err := saveCache(c, v, r.Voucher); err != nil {
		return nil, err
	}
	return dial(ctx, c, v)
}
