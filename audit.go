package otos

import "time"

// AuditKind is what an audit record is about.
type AuditKind string

// Audit kinds.
const (
	AuditRegistration AuditKind = "registration" // a device auth attempt, accepted or refused
	AuditAdmin        AuditKind = "admin"        // a change through the admin API
	AuditSession      AuditKind = "session"      // a broker CONNECT that otos refused
)

// AuditRecord is one entry of the audit trail. It never holds a secret.
type AuditRecord struct {
	ID       string    `json:"id"`
	At       time.Time `json:"at"`
	Kind     AuditKind `json:"kind"`
	TenantID string    `json:"tenant_id"`
	// Actor is who acted: the admin token's id (or "bootstrap", "env"), or
	// for a registration the client address.
	Actor string `json:"actor"`
	// Action names what was done, e.g. "device.auth", "template.create".
	Action string `json:"action"`
	// Code is the result code of a registration (200, 200080, ...), or the
	// HTTP status of an admin change.
	Code         int    `json:"code"`
	TemplateID   string `json:"template_id"`
	DeviceNumber string `json:"device_number"`
	// Target is the id of the object an admin change touched.
	Target     string `json:"target"`
	ClientAddr string `json:"client_addr"`
	// Detail is a short, secret-free note, e.g. which fields changed.
	Detail string `json:"detail"`
	// Count is how many attempts the record stands for: 1, or more for a
	// registration refusal that a flood repeated identically (same code,
	// device number, address and template) within one write of the audit
	// trail; At is then the time of the first of them.
	Count int `json:"count"`
}

// AuditFilter selects audit records; empty fields match anything.
type AuditFilter struct {
	TenantID     string
	Since        time.Time
	DeviceNumber string
	TemplateID   string
	Page
}
