package mqtt

import (
	"testing"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"
)

// A message that mochi drops for a full outbound queue shows in the
// broker's metrics: the queue is bounded (maxWritesPending), and an
// operator must be able to see when a consumer hits the bound.
func TestDroppedMessagesCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	b := New(Config{Registry: reg})
	if !b.hook.Provides(mochi.OnPublishDropped) {
		t.Fatal("the hook does not take mochi's OnPublishDropped")
	}
	for range 3 {
		b.hook.OnPublishDropped(nil, packets.Packet{TopicName: "otos/t1/AA01/devices/telemetry"})
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "otos_mqtt_dropped_total" {
			if got := f.GetMetric()[0].GetCounter().GetValue(); got != 3 {
				t.Fatalf("otos_mqtt_dropped_total = %v, want 3", got)
			}
			return
		}
	}
	t.Fatal("no otos_mqtt_dropped_total metric")
}
