package provision

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/otos-iot/otos"
)

// A voucher whose connections switch between client addresses this many
// times within cloneWindow is taken to be held by two devices taking the
// session from each other: A, B, A, B, A is four switches. A device that
// moves between networks switches once in a while, not four times in ten
// minutes.
const (
	cloneSwitches = 4
	cloneWindow   = 10 * time.Minute
	maxTrails     = 100_000 // devices watched at once, in memory
)

// clones watches, per device, the client addresses its connections come
// from, on this node.
type clones struct {
	mu     sync.Mutex
	trails map[string]*trail
}

// trail is what clones keeps of one device: the address of its last
// connection, and when its connections switched address lately.
type trail struct {
	last     string
	switches []time.Time
	addrs    []string // the addresses switched between, for the record
}

// observe records a connection of device id from addr at now, and reports
// whether it makes the device a suspected clone, with the addresses seen;
// then the device's trail starts again.
func (c *clones) observe(id, addr string, now time.Time) (bool, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.trails == nil || len(c.trails) >= maxTrails {
		c.trails = map[string]*trail{}
	}
	t := c.trails[id]
	if t == nil {
		c.trails[id] = &trail{last: addr}
		return false, nil
	}
	kept := t.switches[:0]
	for _, at := range t.switches {
		if now.Sub(at) < cloneWindow {
			kept = append(kept, at)
		}
	}
	t.switches = kept
	if addr != t.last {
		t.switches = append(t.switches, now)
		if !slices.Contains(t.addrs, t.last) {
			t.addrs = append(t.addrs, t.last)
		}
		if !slices.Contains(t.addrs, addr) {
			t.addrs = append(t.addrs, addr)
		}
		t.last = addr
	}
	if len(t.switches) < cloneSwitches {
		return false, nil
	}
	addrs := t.addrs
	delete(c.trails, id)
	return true, addrs
}

// errCloneDisabled refuses the connection that revealed a clone, under a
// template that disables suspected clones.
var errCloneDisabled = otos.Errorf(otos.EFORBIDDEN, "device is disabled: its voucher is used by turns from different addresses")

// cloneSuspected records that sess's voucher is used by turns from addrs:
// an audit record and a device.clone_suspected event, and, if its template
// says so, the device disabled and its sessions ended. It returns
// errCloneDisabled when the device was disabled.
func (s *Sessions) cloneSuspected(ctx context.Context, sess *otos.Session, addrs []string) error {
	t, err := s.views.template(ctx, sess.TemplateID)
	if err != nil {
		return err
	}
	disable := t != nil && t.CloneAction == otos.CloneDisable
	ev := s.sessionEvent(otos.EventCloneSuspected, sess)
	s.log.Warn("device clone suspected", "device_id", sess.DeviceID, "device_number", sess.DeviceNumber,
		"addresses", strings.Join(addrs, " "), "disabled", disable)
	s.audit.clone(sess, addrs, disable)
	if !disable {
		return s.store.AppendEvents(ctx, []*otos.Event{ev})
	}
	d := &otos.Device{ID: sess.DeviceID, TenantID: sess.TenantID, DeviceNumber: sess.DeviceNumber, TemplateID: sess.TemplateID}
	if _, err := s.store.SetDeviceStatus(ctx, sess.DeviceID, otos.StatusDisabled, s.timestamp(), ev,
		s.deviceEvent(otos.EventDeviceDisabled, d, sess.From.Addr)); err != nil {
		return err
	}
	s.views.revoke(sess.DeviceID)
	return errCloneDisabled
}
