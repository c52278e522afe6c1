package otos

import (
	"crypto/sha256"
	"time"
)

// Role is what an admin token may do.
type Role string

// Roles.
const (
	RoleAdmin  Role = "admin"  // read and change
	RoleViewer Role = "viewer" // read only
	// RoleService is an MQTT service account: it may consume its tenant's
	// device uplinks and publish their downlinks, and has no admin API access.
	RoleService Role = "service"
)

// TokenFilter selects tokens in a list.
type TokenFilter struct {
	TenantID string // empty: every tenant
	Role     Role   // empty: every role
	Page
}

// Token is an admin API bearer token as the store keeps it: hashed.
type Token struct {
	ID        string
	TenantID  string // empty: the system administrator, who sees every tenant
	Role      Role
	Name      string
	Hash      []byte // SHA-256 of the token
	CreatedAt time.Time
	ExpiresAt *time.Time
	RevokedAt *time.Time
}

// Active reports whether t may be used at now.
func (t *Token) Active(now time.Time) bool {
	return t.RevokedAt == nil && (t.ExpiresAt == nil || now.Before(*t.ExpiresAt))
}

// TokenHash is the stored form of an admin token. Tokens are random with
// at least 128 bits, so a fast hash suffices.
func TokenHash(token Secret) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// BootstrapTokenName names the system token that otos serve writes to
// <data>/admin.token.
const BootstrapTokenName = "bootstrap"
