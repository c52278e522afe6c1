package device

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/otos-iot/otos"
)

// answerTimeout bounds the wait for the answer to a registration over MQTT.
const answerTimeout = 10 * time.Second

// authOverMQTT sends one auth request through the broker: it opens a
// registration session, subscribes to the answer of a fresh request id,
// publishes the request and waits for the answer, which reads as the HTTP
// API's body. A refused CONNECT (a locked-out address) is a RefusedError.
func authOverMQTT(ctx context.Context, c Config, body []byte) (*Voucher, string, error) {
	id := make([]byte, 8)
	if _, err := crand.Read(id); err != nil {
		return nil, "", err
	}
	rid := hex.EncodeToString(id)
	answers := make(chan []byte, 1)
	opts := paho.NewClientOptions().AddBroker(brokerURL(c.Broker, c.TLS != nil)).SetProtocolVersion(4).
		SetClientID("provision-" + rid).SetUsername(otos.RegistrationUsername).SetTLSConfig(c.TLS).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(c.ConnectTimeout)
	client := paho.NewClient(opts)
	tok := client.Connect()
	if err := wait(ctx, tok, nil); err != nil {
		client.Disconnect(0)
		if rc := returnCode(tok); rc != 0 && rc < 0x80 {
			return nil, "", &RefusedError{ReturnCode: rc}
		}
		return nil, "", fmt.Errorf("device auth over mqtt: connect to %s: %w", c.Broker, err)
	}
	defer client.Disconnect(100)
	sub := client.Subscribe(otos.RegisterResponsePrefix+rid, 1, func(_ paho.Client, m paho.Message) {
		select {
		case answers <- m.Payload():
		default:
		}
	})
	if err := wait(ctx, sub, nil); err != nil {
		return nil, "", fmt.Errorf("device auth over mqtt: subscribe: %w", err)
	}
	if err := wait(ctx, client.Publish(otos.RegisterPrefix+rid, 1, false, body), nil); err != nil {
		return nil, "", fmt.Errorf("device auth over mqtt: publish: %w", err)
	}
	select {
	case b := <-answers:
		// The answer is the HTTP API's body; its code says what HTTP's
		// status would.
		return parseAnswer(http.StatusOK, http.Header{}, b)
	case <-time.After(answerTimeout):
		return nil, "", fmt.Errorf("device auth over mqtt: no answer within %v", answerTimeout)
	case <-ctx.Done():
		return nil, "", ctx.Err()
	}
}
