package provision

import (
	"context"
	"sync"
	"time"

	"github.com/otos-iot/otos"
)

// maxPendingAudit bounds the audit records waiting to be written. Past it
// (the store is down or far behind) new records are dropped and counted,
// rather than memory growing without end.
const maxPendingAudit = 50_000

// DefaultAuditRetention is how long audit records are kept by default.
const DefaultAuditRetention = 90 * 24 * time.Hour

// foldAfter is how many identical registration refusals one write of the
// audit trail (a quarter of a second) records one by one; the ones after
// are counted on the last of them (otos.AuditRecord.Count). A device or a
// script that repeats a refused request thousands of times a second would
// otherwise write as many rows, and could fill the disk.
const foldAfter = 10

// auditLog gathers audit records between two writes, so that a storm of
// registrations costs one transaction per flush, not one per request.
type auditLog struct {
	mu      sync.Mutex
	pending []*otos.AuditRecord
	dropped int64
	// same counts the refusals of this flush by what they say, and holds
	// the last record of each kind.
	same map[foldKey]*fold
}

// foldKey is what makes two registration refusals identical.
type foldKey struct {
	code                                          int
	tenant, template, number, addr, actor, detail string
}

type fold struct {
	n      int
	record *otos.AuditRecord
}

// record queues r, filling in its id and time, or counts it on an
// identical refusal queued before (see foldAfter).
func (s *Service) record(r *otos.AuditRecord) {
	r.At, r.Count = s.timestamp(), 1
	s.audit.mu.Lock()
	defer s.audit.mu.Unlock()
	var key foldKey
	foldable := r.Kind == otos.AuditRegistration && r.Code != otos.CodeOK
	if foldable {
		key = foldKey{r.Code, r.TenantID, r.TemplateID, r.DeviceNumber, r.ClientAddr, r.Actor, r.Detail}
		if f := s.audit.same[key]; f != nil && f.n >= foldAfter {
			f.record.Count++
			return
		}
	}
	if len(s.audit.pending) >= maxPendingAudit {
		s.audit.dropped++
		return
	}
	id, err := s.newID()
	if err != nil {
		return
	}
	r.ID = id
	s.audit.pending = append(s.audit.pending, r)
	if foldable {
		if s.audit.same == nil {
			s.audit.same = map[foldKey]*fold{}
		}
		f := s.audit.same[key]
		if f == nil {
			f = &fold{}
			s.audit.same[key] = f
		}
		f.n, f.record = f.n+1, r
	}
}

// auditRegistration records a registration attempt with its outcome.
func (s *Service) auditRegistration(req *otos.AuthRequest, t *otos.Template, err error) {
	r := &otos.AuditRecord{Kind: otos.AuditRegistration, Action: "device.auth", Code: otos.CodeOK,
		DeviceNumber: req.DeviceNumber, ClientAddr: req.ClientAddr, Actor: req.ClientAddr}
	if err != nil {
		r.Code = otos.ErrorCode(err).Number()
	}
	if t != nil {
		r.TenantID, r.TemplateID = t.TenantID, t.ID
	} else if req.TemplateID != "" {
		r.Detail = "template_id " + req.TemplateID
	}
	if req.Signed() {
		r.Detail = joinDetail(r.Detail, "signed")
	}
	s.record(r)
}

// RecordRefusal records a registration attempt refused before it reached
// Register: a malformed body, or an address locked out. req may be nil.
func (s *Service) RecordRefusal(req *otos.AuthRequest, clientAddr string, code otos.Code) {
	r := &otos.AuditRecord{Kind: otos.AuditRegistration, Action: "device.auth", Code: code.Number(),
		ClientAddr: clientAddr, Actor: clientAddr}
	if req != nil {
		r.DeviceNumber = req.DeviceNumber
	}
	s.record(r)
}

// RecordAdmin records an admin API change (or an attempt at one): who,
// which route, the HTTP status, and the object it named. tenantID is the
// object's tenant when known, so that a system administrator's change in a
// tenant shows in that tenant's audit; else the caller's.
func (s *Service) RecordAdmin(p *Principal, action string, status int, target, tenantID, detail string) {
	r := &otos.AuditRecord{Kind: otos.AuditAdmin, Action: action, Code: status, Target: target, Detail: detail,
		TenantID: tenantID}
	if p != nil {
		r.Actor = p.Actor()
		if r.TenantID == "" {
			r.TenantID = string(p.Scope)
		}
	}
	s.record(r)
}

func joinDetail(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// FlushAudit writes the queued audit records.
func (s *Service) FlushAudit(ctx context.Context) {
	s.audit.mu.Lock()
	rs, dropped := s.audit.pending, s.audit.dropped
	s.audit.pending, s.audit.dropped = nil, 0
	clear(s.audit.same) // a written record can count no more
	s.audit.mu.Unlock()
	if dropped > 0 {
		s.log.Error("audit records dropped: the store is not keeping up", "dropped", dropped)
	}
	if len(rs) == 0 {
		return
	}
	if err := s.store.AppendAudit(ctx, rs); err != nil {
		s.log.Error("write audit records", "records", len(rs), "err", err)
		// Only a store that could not be reached is worth retrying; a batch
		// refused for what it holds would block every later record.
		if otos.ErrorCode(err) == otos.EUNAVAILABLE {
			s.requeue(rs)
		}
	}
}

// requeue puts records back after a failed write, within the bound.
func (s *Service) requeue(rs []*otos.AuditRecord) {
	s.audit.mu.Lock()
	defer s.audit.mu.Unlock()
	room := maxPendingAudit - len(s.audit.pending)
	if room < len(rs) {
		s.audit.dropped += int64(len(rs) - room)
		rs = rs[:max(room, 0)]
	}
	s.audit.pending = append(rs, s.audit.pending...)
}

// pruneAudit deletes audit records older than the retention.
func (s *Service) pruneAudit(ctx context.Context) {
	n, err := s.store.PruneAudit(ctx, s.now().Add(-s.retention))
	if ctx.Err() != nil {
		return // stopping
	}
	if err != nil {
		s.log.Warn("prune audit", "err", err)
	} else if n > 0 {
		s.log.Info("audit pruned", "records", n, "retention", s.retention.String())
	}
}

// Run does the service's background work until ctx ends: presence every
// second, audit records four times a second, the audit retention hourly,
// and on a node that shares its store, a check of its live sessions.
// Then it writes what is left.
func (s *Service) Run(ctx context.Context) {
	presence, audit, prune := time.NewTicker(time.Second), time.NewTicker(250*time.Millisecond), time.NewTicker(time.Hour)
	revalidate := time.NewTicker(revalidateEvery)
	defer presence.Stop()
	defer audit.Stop()
	defer prune.Stop()
	defer revalidate.Stop()
	s.pruneAudit(ctx)
	for {
		select {
		case <-ctx.Done():
			s.FlushPresence(context.Background())
			s.FlushAudit(context.Background())
			return
		case <-presence.C:
			s.FlushPresence(ctx)
		case <-audit.C:
			s.FlushAudit(ctx)
		case <-prune.C:
			s.pruneAudit(ctx)
		case <-revalidate.C:
			if s.notifier != nil { // alone on its store, a node misses no message
				s.Revalidate(ctx)
			}
		}
	}
}
