package storetest

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/otos-iot/otos"
)

// Hang, set as a fault, makes the call wait until its context ends and
// return the context's error: a store that stopped answering.
var Hang = errors.New("storetest: hang until the context ends")

// Faults is a real store with faults injected by method name, so that tests
// of the core reach the branches of a store that is unavailable, too slow,
// or refuses a write. A method without a fault calls the store.
type Faults struct {
	otos.Store
	mu     sync.Mutex
	faults map[string]error
	calls  map[string]int
}

// NewFaults wraps store.
func NewFaults(store otos.Store) *Faults {
	return &Faults{Store: store, faults: map[string]error{}, calls: map[string]int{}}
}

// Fail makes every call of method (e.g. "CreateDevice") return err, or with
// Hang wait for its context, until Heal.
func (f *Faults) Fail(method string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults[method] = err
}

// Heal removes every fault.
func (f *Faults) Heal() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.faults)
}

// Calls returns how many times method was called, failed or not.
func (f *Faults) Calls(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[method]
}

// fault counts a call of method and returns its fault, if any.
func (f *Faults) fault(ctx context.Context, method string) error {
	f.mu.Lock()
	f.calls[method]++
	err := f.faults[method]
	f.mu.Unlock()
	if err == Hang {
		<-ctx.Done()
		return ctx.Err()
	}
	return err
}

// TemplateBySecret calls the store unless it has a fault.
func (f *Faults) TemplateBySecret(ctx context.Context, hash []byte, now time.Time) (*otos.Template, error) {
	if err := f.fault(ctx, "TemplateBySecret"); err != nil {
		return nil, err
	}
	return f.Store.TemplateBySecret(ctx, hash, now)
}

// Template calls the store unless it has a fault.
func (f *Faults) Template(ctx context.Context, id string) (*otos.Template, error) {
	if err := f.fault(ctx, "Template"); err != nil {
		return nil, err
	}
	return f.Store.Template(ctx, id)
}

// TemplateSecrets calls the store unless it has a fault.
func (f *Faults) TemplateSecrets(ctx context.Context, id string, now time.Time) ([]otos.TemplateSecret, error) {
	if err := f.fault(ctx, "TemplateSecrets"); err != nil {
		return nil, err
	}
	return f.Store.TemplateSecrets(ctx, id, now)
}

// Allowed calls the store unless it has a fault.
func (f *Faults) Allowed(ctx context.Context, templateID, number string) (bool, error) {
	if err := f.fault(ctx, "Allowed"); err != nil {
		return false, err
	}
	return f.Store.Allowed(ctx, templateID, number)
}

// UseNonce calls the store unless it has a fault.
func (f *Faults) UseNonce(ctx context.Context, templateID, nonce string, expires, now time.Time) error {
	if err := f.fault(ctx, "UseNonce"); err != nil {
		return err
	}
	return f.Store.UseNonce(ctx, templateID, nonce, expires, now)
}

// ProductByKey calls the store unless it has a fault.
func (f *Faults) ProductByKey(ctx context.Context, key string) (*otos.Product, error) {
	if err := f.fault(ctx, "ProductByKey"); err != nil {
		return nil, err
	}
	return f.Store.ProductByKey(ctx, key)
}

// CreateDevice calls the store unless it has a fault.
func (f *Faults) CreateDevice(ctx context.Context, d *otos.Device, events ...*otos.Event) error {
	if err := f.fault(ctx, "CreateDevice"); err != nil {
		return err
	}
	return f.Store.CreateDevice(ctx, d, events...)
}

// DeviceByNumber calls the store unless it has a fault.
func (f *Faults) DeviceByNumber(ctx context.Context, number string) (*otos.Device, error) {
	if err := f.fault(ctx, "DeviceByNumber"); err != nil {
		return nil, err
	}
	return f.Store.DeviceByNumber(ctx, number)
}

// DeviceByCredential calls the store unless it has a fault.
func (f *Faults) DeviceByCredential(ctx context.Context, lookup []byte) (*otos.Device, error) {
	if err := f.fault(ctx, "DeviceByCredential"); err != nil {
		return nil, err
	}
	return f.Store.DeviceByCredential(ctx, lookup)
}

// ReissueCredential calls the store unless it has a fault.
func (f *Faults) ReissueCredential(ctx context.Context, id string, r otos.Reissue, now time.Time, events ...*otos.Event) (*otos.Device, error) {
	if err := f.fault(ctx, "ReissueCredential"); err != nil {
		return nil, err
	}
	return f.Store.ReissueCredential(ctx, id, r, now, events...)
}

// MarkConnected calls the store unless it has a fault.
func (f *Faults) MarkConnected(ctx context.Context, id string, lookup []byte, at time.Time, events ...*otos.Event) error {
	if err := f.fault(ctx, "MarkConnected"); err != nil {
		return err
	}
	return f.Store.MarkConnected(ctx, id, lookup, at, events...)
}

// TokenByHash calls the store unless it has a fault.
func (f *Faults) TokenByHash(ctx context.Context, hash []byte) (*otos.Token, error) {
	if err := f.fault(ctx, "TokenByHash"); err != nil {
		return nil, err
	}
	return f.Store.TokenByHash(ctx, hash)
}

// AppendAudit calls the store unless it has a fault.
func (f *Faults) AppendAudit(ctx context.Context, rs []*otos.AuditRecord) error {
	if err := f.fault(ctx, "AppendAudit"); err != nil {
		return err
	}
	return f.Store.AppendAudit(ctx, rs)
}
