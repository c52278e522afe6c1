package provision

import (
	"context"

	"github.com/otos-iot/otos"
)

// Device returns device id if the scope may see it.
func (s *Service) Device(ctx context.Context, sc Scope, id string) (*otos.Device, error) {
	d, err := s.store.Device(ctx, id)
	if err != nil {
		return nil, err
	}
	if !sc.owns(d.TenantID) {
		return nil, notFound("device")
	}
	return d, nil
}

// Devices lists the scope's devices.
func (s *Service) Devices(ctx context.Context, sc Scope, f otos.DeviceFilter) ([]*otos.Device, string, error) {
	f.TenantID = string(sc)
	return s.store.Devices(ctx, f)
}

// SetDeviceStatus enables or disables a device; a disabled device's voucher
// stops opening connections.
func (s *Service) SetDeviceStatus(ctx context.Context, sc Scope, id string, st otos.DeviceStatus) (*otos.Device, error) {
	if _, err := s.Device(ctx, sc, id); err != nil {
		return nil, err
	}
	d, err := s.store.SetDeviceStatus(ctx, id, st, s.timestamp())
	if err != nil {
		return nil, err
	}
	s.log.Info("device status set", "device_id", id, "status", string(st))
	s.changed(d, st == otos.StatusDisabled)
	return d, nil
}

// ResetDevice voids a device's voucher and re-opens registration for it.
func (s *Service) ResetDevice(ctx context.Context, sc Scope, id string) (*otos.Device, error) {
	if _, err := s.Device(ctx, sc, id); err != nil {
		return nil, err
	}
	d, err := s.store.ResetDevice(ctx, id, s.timestamp())
	if err != nil {
		return nil, err
	}
	s.log.Info("device reset", "device_id", id)
	s.changed(d, true)
	return d, nil
}

// DeleteDevice deletes a device; ECONFLICT while it has sub-devices.
func (s *Service) DeleteDevice(ctx context.Context, sc Scope, id string) error {
	d, err := s.Device(ctx, sc, id)
	if err != nil {
		return err
	}
	if err := s.store.DeleteDevice(ctx, id); err != nil {
		return err
	}
	s.log.Info("device deleted", "device_id", id, "device_number", d.DeviceNumber)
	s.changed(d, true)
	return nil
}
