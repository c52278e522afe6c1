package main

import (
	"context"
	"crypto/tls"
	"net"
	"sync"
	"testing"
	"time"

	paho5 "github.com/eclipse/paho.golang/paho"
	paho3 "github.com/eclipse/paho.mqtt.golang"
)

// startBroker starts otos with its MQTT broker on a free port.
func startBroker(t *testing.T, edit func(*Config)) *testServer {
	t.Helper()
	return startServer(t, "", func(c *Config) {
		c.MQTT = "127.0.0.1:0"
		if edit != nil {
			edit(c)
		}
	})
}

// client3 is an MQTT 3.1.1 client (eclipse paho) that records what it
// receives and whether the broker dropped it.
type client3 struct {
	paho3.Client
	lost chan error
	mu   sync.Mutex
	msgs []paho3.Message
}

// connect3 connects over MQTT 3.1.1; it returns the CONNECT's error.
func connect3(t *testing.T, url, clientID, user, pass string, tlsCfg *tls.Config) (*client3, error) {
	t.Helper()
	c := &client3{lost: make(chan error, 1)}
	opts := paho3.NewClientOptions().AddBroker(url).SetClientID(clientID).SetUsername(user).SetPassword(pass).
		SetProtocolVersion(4).SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(5 * time.Second).
		SetCleanSession(true).SetTLSConfig(tlsCfg).
		SetConnectionLostHandler(func(_ paho3.Client, err error) { c.lost <- err }).
		SetDefaultPublishHandler(func(_ paho3.Client, m paho3.Message) {
			c.mu.Lock()
			c.msgs = append(c.msgs, m)
			c.mu.Unlock()
		})
	c.Client = paho3.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		t.Fatal("MQTT 3.1.1 connect timed out")
	}
	if tok.Error() != nil {
		return nil, tok.Error()
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c, nil
}

// subscribe subscribes with QoS 1 and returns the granted code (0x80 for a
// refusal).
func (c *client3) subscribe(t *testing.T, filter string) byte {
	t.Helper()
	tok := c.Subscribe(filter, 1, nil)
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", filter, tok.Error())
	}
	return tok.(*paho3.SubscribeToken).Result()[filter]
}

// received waits up to d for a message on topic.
func (c *client3) received(topic string, d time.Duration) (paho3.Message, bool) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		for _, m := range c.msgs {
			if m.Topic() == topic {
				c.mu.Unlock()
				return m, true
			}
		}
		c.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	return nil, false
}

// client5 is an MQTT 5 client (eclipse paho.golang).
type client5 struct {
	*paho5.Client
	connack *paho5.Connack
	dropped chan *paho5.Disconnect
	msgs    chan *paho5.Publish
}

// connect5 connects over MQTT 5 and returns the client and its CONNACK,
// whether accepted or not.
func connect5(t *testing.T, addr, clientID, user, pass string) *client5 {
	t.Helper()
	return connect5Opts(t, addr, clientID, user, pass, nil)
}

// connect5Opts is connect5 with a chance to change the CONNECT packet.
func connect5Opts(t *testing.T, addr, clientID, user, pass string, edit func(*paho5.Connect)) *client5 {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := &client5{dropped: make(chan *paho5.Disconnect, 1), msgs: make(chan *paho5.Publish, 100)}
	c.Client = paho5.NewClient(paho5.ClientConfig{
		Conn:               conn,
		ClientID:           clientID,
		OnServerDisconnect: func(d *paho5.Disconnect) { c.dropped <- d },
		OnPublishReceived: []func(paho5.PublishReceived) (bool, error){func(p paho5.PublishReceived) (bool, error) {
			c.msgs <- p.Packet
			return true, nil
		}},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cp := &paho5.Connect{ClientID: clientID, KeepAlive: 30, CleanStart: true, Username: user, UsernameFlag: user != ""}
	if pass != "" {
		cp.Password, cp.PasswordFlag = []byte(pass), true
	}
	if edit != nil {
		edit(cp)
	}
	c.connack, err = c.Connect(ctx, cp)
	if c.connack == nil {
		t.Fatalf("MQTT 5 connect: %v", err)
	}
	if c.connack.ReasonCode == 0 {
		t.Cleanup(func() { _ = c.Disconnect(&paho5.Disconnect{}) })
	}
	return c
}

// subscribe5 subscribes and returns the reason code.
func (c *client5) subscribe(t *testing.T, filter string) byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sa, err := c.Subscribe(ctx, &paho5.Subscribe{Subscriptions: []paho5.SubscribeOptions{{Topic: filter, QoS: 1}}})
	if sa == nil {
		t.Fatalf("subscribe %s: %v", filter, err)
	}
	return sa.Reasons[0]
}

// publish5 publishes and returns the PUBACK reason code (QoS 1).
func (c *client5) publish(t *testing.T, topic string, payload string, props ...string) byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p := &paho5.Publish{Topic: topic, QoS: 1, Payload: []byte(payload), Properties: &paho5.PublishProperties{}}
	for i := 0; i+1 < len(props); i += 2 {
		p.Properties.User.Add(props[i], props[i+1])
	}
	res, err := c.Publish(ctx, p)
	if res == nil {
		t.Fatalf("publish %s: %v", topic, err)
	}
	return res.ReasonCode
}

// next waits up to d for the next message.
func (c *client5) next(d time.Duration) (*paho5.Publish, bool) {
	select {
	case m := <-c.msgs:
		return m, true
	case <-time.After(d):
		return nil, false
	}
}
