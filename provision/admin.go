package provision

import (
	"context"
	"crypto/subtle"

	"github.com/otos-iot/otos"
)

// Admin is the administration service (otos.Admin): tenants, templates,
// products, devices, allow-lists, service accounts, admin tokens and audit
// queries. Reads go to the store, never through the views, so that an
// operator sees what is stored; each change drops the views it affects.
type Admin struct {
	*core
	// envToken is the hash of Config.AdminToken, or nil.
	envToken []byte
	// allowPrivateWebhooks is Config.WebhookAllowPrivate.
	allowPrivateWebhooks bool
}

var errUnauthorized = otos.Errorf(otos.EUNAUTHORIZED, "Missing or invalid admin token")

// Authenticate implements otos.Admin.
func (a *Admin) Authenticate(ctx context.Context, from otos.Client, token otos.Secret, change otos.Change) (*otos.Principal, error) {
	p, err := a.principal(ctx, from, token)
	if err != nil || change.Action == "" {
		return p, err
	}
	c, err := a.begin(p, change.Action, change.Target)
	if err != nil {
		c.end(err) // a read-only principal's attempt, refused before its request is read
		return nil, err
	}
	return p, nil
}

// principal returns the principal of token. A client that presents wrong
// tokens counts toward its lock-out, as wrong secrets do, and once locked
// out its wrong tokens are refused as such (ELOCKEDOUT): the console's login
// is this call too. A valid token still works from a locked-out address
// (an operator behind the NAT of misbehaving devices); with 256 random bits
// a token is not guessed, so nothing is learnt from that.
func (a *Admin) principal(ctx context.Context, from otos.Client, token otos.Secret) (_ *otos.Principal, err error) {
	if token == "" {
		return nil, errUnauthorized // no credential: no guess
	}
	defer func() {
		if otos.ErrorCode(err) == otos.EUNAUTHORIZED {
			if lerr := a.guard.check(from); lerr != nil {
				err = lerr
				return
			}
			a.guard.count(from, err)
		}
	}()
	h := otos.TokenHash(token)
	if a.envToken != nil && subtle.ConstantTimeCompare(h, a.envToken) == 1 {
		return &otos.Principal{Role: otos.RoleAdmin, From: from}, nil
	}
	t, err := a.store.TokenByHash(ctx, h)
	switch otos.ErrorCode(err) {
	case "":
	case otos.ENOTFOUND:
		return nil, errUnauthorized
	default:
		return nil, err
	}
	if !t.Active(a.now()) || !otos.AdminRole(t.Role) || subtle.ConstantTimeCompare(h, t.Hash) != 1 {
		return nil, errUnauthorized
	}
	return &otos.Principal{Scope: otos.Scope(t.TenantID), Role: t.Role, TokenID: t.ID, From: from}, nil
}

// change is one admin change under way, audited when it ends.
type change struct {
	a      *Admin
	p      *otos.Principal
	action string
	// target and tenant name the object changed, as soon as they are known.
	target, tenant string
}

// begin starts change action of p on target ("" until it is created). It
// refuses a principal that may only read with EFORBIDDEN; the caller ends
// the change, refused or not, with end.
func (a *Admin) begin(p *otos.Principal, action, target string) (*change, error) {
	c := &change{a: a, p: p, action: action, target: target}
	if !p.CanWrite() {
		return c, otos.Errorf(otos.EFORBIDDEN, "This token may only read")
	}
	return c, nil
}

// end audits the change with its outcome.
func (c *change) end(err error) {
	c.a.audit.admin(c.p, c.action, c.target, c.tenant, err)
}
