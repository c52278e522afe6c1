package otos

import (
	"context"
	"encoding/json"
	"time"
)

// EventType is what an event says happened.
type EventType string

// The event catalogue.
const (
	EventDeviceRegistered    EventType = "device.registered"
	EventDeviceReissued      EventType = "device.reissued"
	EventDeviceConnected     EventType = "device.connected"
	EventDeviceDisconnected  EventType = "device.disconnected"
	EventDeviceDisabled      EventType = "device.disabled"
	EventDeviceEnabled       EventType = "device.enabled"
	EventDeviceReset         EventType = "device.reset"
	EventDeviceDeleted       EventType = "device.deleted"
	EventCloneSuspected      EventType = "device.clone_suspected"
	EventVoucherRotated      EventType = "device.voucher_rotated"
	EventRotationRequested   EventType = "rotation.requested"
	EventHardwareMismatch    EventType = "device.hardware_mismatch"
	EventHardwareUnbound     EventType = "device.hardware_unbound"
	EventTemplateCreated     EventType = "template.created"
	EventTemplateUpdated     EventType = "template.updated"
	EventTemplateRotated     EventType = "template.secret_rotated"
	EventRegistrationRefused EventType = "registration.refused"
	EventAllowlistChanged    EventType = "allowlist.changed"
)

// EventTypes lists the catalogue, for validation and documentation.
func EventTypes() []EventType {
	return []EventType{EventDeviceRegistered, EventDeviceReissued, EventDeviceConnected, EventDeviceDisconnected,
		EventDeviceDisabled, EventDeviceEnabled, EventDeviceReset, EventDeviceDeleted, EventCloneSuspected, EventTemplateCreated,
		EventTemplateUpdated, EventTemplateRotated, EventRegistrationRefused, EventAllowlistChanged,
		EventVoucherRotated, EventRotationRequested, EventHardwareMismatch, EventHardwareUnbound}
}

// Event is one lifecycle event: what happened to which object, never a
// secret. Events are written in the transaction of the change they tell of,
// so that there is an event for every change made and for nothing else.
type Event struct {
	// ID is a time-ordered UUIDv7, the consumer's key for de-duplication.
	ID   string    `json:"id"`
	Type EventType `json:"type"`
	At   time.Time `json:"at"`
	// TenantID is the tenant the object belongs to; empty for a refusal
	// that matched no template.
	TenantID string `json:"tenant_id"`
	// Subject is the id of the object the event is about (a device, a
	// template): events of one subject are delivered in order.
	Subject string `json:"-"`
	// Pos is the event's position in the store's order of commits, which
	// the store assigns; replay and delivery follow it.
	Pos  int64           `json:"-"`
	Data json.RawMessage `json:"data"`
}

// EventData is the data of an event, what a consumer needs; fields that do
// not apply are left out.
type EventData struct {
	DeviceID      string     `json:"device_id,omitempty"`
	DeviceNumber  string     `json:"device_number,omitempty"`
	DeviceName    string     `json:"device_name,omitempty"`
	TemplateID    string     `json:"template_id,omitempty"`
	ProductID     string     `json:"product_id,omitempty"`
	ParentID      string     `json:"parent_id,omitempty"`
	SubDeviceAddr string     `json:"sub_device_addr,omitempty"`
	ClientAddr    string     `json:"client_addr,omitempty"`
	Name          string     `json:"name,omitempty"`
	DeviceType    DeviceType `json:"device_type,omitempty"`
	// Changed names the settings a template update changed.
	Changed []string `json:"changed,omitempty"`
	// PreviousValidUntil is when a rotated secret stops working.
	PreviousValidUntil *time.Time `json:"previous_secret_valid_until,omitempty"`
	// Added and Received count an allow-list import.
	Added    *int `json:"added,omitempty"`
	Received *int `json:"received,omitempty"`
	// ExpiresAt is when a rotated voucher expires, PreviousUntil when the
	// one it replaced stops working; Deadline a forced rotation's.
	ExpiresAt     *time.Time `json:"expires_at,omitempty"`
	PreviousUntil *time.Time `json:"previous_voucher_until,omitempty"`
	Deadline      *time.Time `json:"deadline,omitempty"`
	// Code, Count, From and Until describe refused registrations: how many
	// with this code in the window from From to Until.
	Code  int        `json:"code,omitempty"`
	Count int        `json:"count,omitempty"`
	From  *time.Time `json:"from,omitempty"`
	Until *time.Time `json:"until,omitempty"`
}

// EventFilter selects events in position order.
type EventFilter struct {
	TenantID string // empty: every tenant
	After    int64  // positions after this one
	Limit    int
}

// DeviceEventData is the data of an event about device d.
func DeviceEventData(d *Device) EventData {
	return EventData{DeviceID: d.ID, DeviceNumber: d.DeviceNumber, DeviceName: d.Name, TemplateID: d.TemplateID,
		ProductID: d.ProductID, ParentID: d.ParentID, SubDeviceAddr: d.SubDeviceAddr}
}

// Deliverer sends events to webhook endpoints: the webhook adapter, which
// the core's dispatcher calls.
type Deliverer interface {
	// Deliver posts body, the JSON of event e, to url, signed with secret,
	// and returns the answer's HTTP status (0 when there was none). Any
	// answer but a 2xx is an error.
	Deliver(ctx context.Context, url string, secret Secret, e *Event, body []byte) (status int, err error)
}

// EventTopic is the consumer topic of tenant's events of type t, on the
// brokers that publish them: otos/<tenant>/events/<type>.
func EventTopic(tenant string, t EventType) string {
	return ConsumerPrefix + tenant + "/events/" + string(t)
}

// EventPublisher passes events on as they happen, in position order: the
// embedded broker, to its tenants' service accounts.
type EventPublisher interface {
	PublishEvents(es []*Event)
}
