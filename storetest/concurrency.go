package storetest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/otos-iot/otos"
)

// racers is how many goroutines race to create one device.
const racers = 50

// race runs CreateDevice on racers devices at once, made by mk(i), and
// checks that exactly one succeeds and the others get ECONFLICT naming field.
// It returns the device that was created.
func race(t *testing.T, s otos.Store, field string, mk func(i int) *otos.Device) *otos.Device {
	t.Helper()
	devices := make([]*otos.Device, racers)
	for i := range devices {
		devices[i] = mk(i)
	}
	errs := make([]error, racers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, d := range devices {
		wg.Go(func() {
			<-start
			errs[i] = s.CreateDevice(t.Context(), d)
		})
	}
	close(start)
	wg.Wait()

	var winner *otos.Device
	for i, err := range errs {
		switch {
		case err == nil && winner == nil:
			winner = devices[i]
		case err == nil:
			t.Errorf("devices %s and %s were both created", winner.ID, devices[i].ID)
		case otos.ErrorCode(err) != otos.ECONFLICT || otos.ErrorField(err) != field:
			t.Errorf("racer %d: error %v (code %q, field %q), want %q on %q",
				i, err, otos.ErrorCode(err), otos.ErrorField(err), otos.ECONFLICT, field)
		}
	}
	if winner == nil {
		t.Fatal("no device was created")
	}
	return winner
}

func testConcurrency(t *testing.T, s otos.Store) {
	t.Run("same-device-number", func(t *testing.T) {
		tpl, _ := newTemplate(t, s, otos.DefaultTenantID, otos.DeviceDirect)
		number := "dn-" + newID()
		winner := race(t, s, "device_number", func(int) *otos.Device {
			d := deviceOf(tpl)
			d.DeviceNumber = number
			return d
		})
		items, _, err := s.Devices(t.Context(), otos.DeviceFilter{DeviceNumber: number})
		must(t, err)
		if len(items) != 1 || items[0].ID != winner.ID {
			t.Fatalf("%d devices with the number, want only %s", len(items), winner.ID)
		}
		sameDevice(t, items[0], winner)
	})
	t.Run("same-sub-device-addr", func(t *testing.T) {
		gateways, _ := newTemplate(t, s, otos.DefaultTenantID, otos.DeviceGateway)
		subs, _ := newTemplate(t, s, otos.DefaultTenantID, otos.DeviceSubDevice)
		gw := newDevice(t, s, gateways, nil)
		winner := race(t, s, "sub_device_addr", func(i int) *otos.Device {
			d := deviceOf(subs)
			d.DeviceNumber = fmt.Sprintf("%s-%d", d.DeviceNumber, i)
			under(gw, "addr-1")(d)
			return d
		})
		items, _, err := s.Devices(t.Context(), otos.DeviceFilter{ParentID: gw.ID})
		must(t, err)
		if len(items) != 1 || items[0].ID != winner.ID {
			t.Fatalf("%d devices under the gateway, want only %s", len(items), winner.ID)
		}
		sameDevice(t, items[0], winner)
	})
}
