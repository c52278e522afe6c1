package provision

import (
	"context"
	"sync"
	"time"

	"github.com/otos-iot/otos"
)

// Known devices: a repeated registration of a device that may not register
// again (it has connected, is disabled, or is another template's) is
// answered from memory, without a store read. Every change of a device
// through the service, here or on another node, drops its entry; the TTL
// bounds what a missed message could leave.
const (
	knownTTL  = 5 * time.Second
	knownSize = 100_000
)

// knownDevices caches device snapshots by device number.
type knownDevices struct {
	mu       sync.Mutex
	epoch    uint64
	byNumber map[string]knownDevice
	byID     map[string]string // device id → number
}

type knownDevice struct {
	d     *otos.Device
	until time.Time
}

// get returns the snapshot of the device with this number, if fresh, and
// the epoch to put a fresh one under.
func (k *knownDevices) get(number string, now time.Time) (*otos.Device, uint64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	e, ok := k.byNumber[number]
	if !ok || !now.Before(e.until) {
		return nil, k.epoch
	}
	return e.d, k.epoch
}

// put stores d unless a device changed since epoch.
func (k *knownDevices) put(d *otos.Device, epoch uint64, now time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.epoch != epoch {
		return
	}
	if k.byNumber == nil || len(k.byNumber) >= knownSize {
		k.byNumber, k.byID = map[string]knownDevice{}, map[string]string{}
	}
	k.byNumber[d.DeviceNumber] = knownDevice{d: d, until: now.Add(knownTTL)}
	k.byID[d.ID] = d.DeviceNumber
}

// forget drops device id and voids snapshots being read.
func (k *knownDevices) forget(id string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.epoch++
	if n, ok := k.byID[id]; ok {
		delete(k.byNumber, n)
		delete(k.byID, id)
	}
}

// flush drops everything.
func (k *knownDevices) flush() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.epoch++
	k.byNumber, k.byID = nil, nil
}

// deviceByNumber returns the device with this number from the snapshot
// cache or the store; a nil device when there is none.
func (s *Service) deviceByNumber(ctx context.Context, number string) (*otos.Device, error) {
	now := s.now()
	d, epoch := s.known.get(number, now)
	if d != nil {
		return d, nil
	}
	d, err := s.store.DeviceByNumber(ctx, number)
	if otos.ErrorCode(err) == otos.ENOTFOUND {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	s.known.put(d, epoch, now)
	return d, nil
}
