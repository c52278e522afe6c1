package provision

import (
	"context"
	"strings"

	"github.com/otos-iot/otos"
)

// Known implements otos.Sessions.
func (s *Sessions) Known(ctx context.Context, username string) (*otos.Session, error) {
	if id, ok := strings.CutPrefix(username, otos.ServiceUsernamePrefix); ok {
		t, err := s.store.Token(ctx, id)
		if err != nil {
			return nil, ifNotFound(err, errBadCredentials)
		}
		if t.Role != otos.RoleService || !t.Active(s.now()) {
			return nil, errBadCredentials
		}
		return &otos.Session{TenantID: t.TenantID, AccountID: t.ID}, nil
	}
	e, err := s.views.voucher(ctx, otos.VoucherLookup(username))
	switch {
	case err != nil:
		return nil, err
	case e == nil || !e.enabled:
		return nil, errBadCredentials
	}
	sess := e.session
	return &sess, nil
}
