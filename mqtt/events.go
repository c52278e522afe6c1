package mqtt

import (
	"encoding/json"

	"github.com/otos-iot/otos"
)

// Topics of the events the broker passes on to a tenant's service
// accounts: otos/{tenant}/events/{type} carries each event (its JSON, as a
// webhook receives it), and otos/{tenant}/{device_number}/status, retained,
// says online or offline, the presence topic ThingsPanel consumers know.
const StatusLevel = "status"

// PublishEvents implements otos.EventPublisher: each event goes to its
// tenant's event topic, and connections to the device's status topic.
// Events of no tenant (a refusal that matched no template) go nowhere.
func (b *Broker) PublishEvents(es []*otos.Event) {
	for _, e := range es {
		if e.TenantID == "" {
			continue
		}
		body, err := json.Marshal(e)
		if err != nil {
			continue
		}
		prefix := otos.ConsumerPrefix + e.TenantID + "/"
		b.publish(otos.EventTopic(e.TenantID, e.Type), body, false)
		var status []byte
		switch e.Type {
		case otos.EventDeviceConnected:
			status = []byte("online")
		case otos.EventDeviceDisconnected, otos.EventDeviceDisabled, otos.EventDeviceReset:
			status = []byte("offline")
		case otos.EventDeviceDeleted:
			status = []byte{} // an empty retained message clears the topic
		default:
			continue
		}
		var d otos.EventData
		if json.Unmarshal(e.Data, &d) != nil || d.DeviceNumber == "" || !otos.TopicSafe(d.DeviceNumber) {
			continue
		}
		b.publish(prefix+d.DeviceNumber+"/"+StatusLevel, status, true)
	}
}

// publish publishes from the broker itself, QoS 1.
func (b *Broker) publish(topic string, payload []byte, retain bool) {
	if err := b.server.Publish(topic, payload, retain, 1); err != nil {
		b.cfg.Logger.Warn("mqtt: publish event", "topic", topic, "err", err)
	}
}
