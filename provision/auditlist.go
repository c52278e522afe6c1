package provision

import (
	"context"

	"github.com/otos-iot/otos"
)

// AuditRecords lists the audit records the scope may see, oldest first: a
// tenant's own records, or every record (including refused registrations
// that matched no template, hence no tenant) for the system administrator.
// f.TenantID is set from the scope. Records still queued are written first,
// so that a change shows in the list made right after it.
func (s *Service) AuditRecords(ctx context.Context, sc Scope, f otos.AuditFilter) ([]*otos.AuditRecord, string, error) {
	f.TenantID = string(sc)
	s.FlushAudit(ctx)
	return s.store.Audit(ctx, f)
}
