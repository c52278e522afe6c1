package provision

import (
	"context"
	"strings"
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

// foldAfter is how many identical refusals one write of the audit trail (a
// quarter of a second) records one by one; the ones after are counted on
// the last of them (otos.AuditRecord.Count). A device or a script that
// repeats a refused request thousands of times a second would otherwise
// write as many rows, and could fill the disk.
const foldAfter = 10

// auditLog is the core's audit trail: every registration attempt and every
// admin change, whatever the protocol carried it. It gathers
// records between two writes, so that a storm costs one transaction per
// flush, not one per request.
type auditLog struct {
	c       *core
	mu      sync.Mutex
	pending []*otos.AuditRecord
	dropped int64
	// same counts the refusals of this flush by what they say, and holds
	// the last record of each kind.
	same map[foldKey]*fold
}

// foldKey is what makes two refusals identical.
type foldKey struct {
	code                                          int
	tenant, template, number, addr, actor, detail string
}

type fold struct {
	n      int
	record *otos.AuditRecord
}

func newAuditLog(c *core) *auditLog {
	return &auditLog{c: c, same: map[foldKey]*fold{}}
}

// record queues r, filling in its id and time, or counts it on an
// identical refusal queued before (see foldAfter).
func (a *auditLog) record(r *otos.AuditRecord) {
	r.At, r.Count = a.c.timestamp(), 1
	a.mu.Lock()
	defer a.mu.Unlock()
	var key foldKey
	foldable := r.Kind != otos.AuditAdmin && r.Code != otos.CodeOK
	if foldable {
		key = foldKey{r.Code, r.TenantID, r.TemplateID, r.DeviceNumber, r.ClientAddr, r.Actor, r.Detail}
		if f := a.same[key]; f != nil && f.n >= foldAfter {
			f.record.Count++
			return
		}
	}
	if len(a.pending) >= maxPendingAudit {
		a.dropped++
		return
	}
	id, err := a.c.newID()
	if err != nil {
		return
	}
	r.ID = id
	a.pending = append(a.pending, r)
	if foldable {
		f := a.same[key]
		if f == nil {
			f = &fold{}
			a.same[key] = f
		}
		f.n, f.record = f.n+1, r
	}
}

// registration records a registration attempt from client from with its
// outcome; req is nil when the request could not be read, t when no
// template was found.
func (a *auditLog) registration(from otos.Client, req *otos.AuthRequest, t *otos.Template, err error) {
	r := &otos.AuditRecord{Kind: otos.AuditRegistration, Action: "device.auth", Code: resultCode(err),
		ClientAddr: from.Addr, Actor: from.Addr}
	if req != nil {
		r.DeviceNumber = req.DeviceNumber
		if req.Signed() {
			r.Detail = "signed"
		}
		if t == nil && req.TemplateID != "" {
			r.Detail = joinDetail("template_id "+req.TemplateID, r.Detail)
		}
	}
	if t != nil {
		r.TenantID, r.TemplateID = t.TenantID, t.ID
	}
	a.record(r)
}

// session records a broker CONNECT from client from that was refused with
// err: of device d when its voucher was known (nil otherwise). The
// username is never recorded: an ACCESSTOKEN voucher's is its secret.
func (a *auditLog) session(from otos.Client, d *otos.Session, err error) {
	r := &otos.AuditRecord{Kind: otos.AuditSession, Action: "device.connect", Code: resultCode(err),
		ClientAddr: from.Addr, Actor: from.Addr}
	if d != nil {
		r.TenantID, r.TemplateID, r.DeviceNumber = d.TenantID, d.TemplateID, d.DeviceNumber
	}
	a.record(r)
}

// rotation records a voucher rotation asked by the device of dev, and its
// outcome.
func (a *auditLog) rotation(dev *otos.Session, err error) {
	r := &otos.AuditRecord{Kind: otos.AuditRegistration, Action: "device.voucher_rotate", Code: resultCode(err)}
	if dev != nil {
		r.ClientAddr, r.Actor = dev.From.Addr, dev.From.Addr
		r.TenantID, r.TemplateID, r.DeviceNumber, r.Target = dev.TenantID, dev.TemplateID, dev.DeviceNumber, dev.DeviceID
		if dev.Previous {
			r.Detail = "previous voucher"
		}
	}
	a.record(r)
}

// clone records a suspected clone of sess's device, seen from addrs, and
// whether the device was disabled for it (code 100005) or not (200).
func (a *auditLog) clone(sess *otos.Session, addrs []string, disabled bool) {
	r := &otos.AuditRecord{Kind: otos.AuditSession, Action: "device.clone_suspected", Code: otos.CodeOK,
		ClientAddr: sess.From.Addr, Actor: "otos", TenantID: sess.TenantID, TemplateID: sess.TemplateID,
		DeviceNumber: sess.DeviceNumber, Target: sess.DeviceID, Detail: "addresses " + strings.Join(addrs, " ")}
	if disabled {
		r.Code = otos.EFORBIDDEN.Number()
	}
	a.record(r)
}

// admin records an admin change, or a refused attempt at one: who, what,
// the outcome, and the object it named. tenantID is the object's tenant
// when known, so that a system administrator's change in a tenant shows in
// that tenant's audit; else the principal's.
func (a *auditLog) admin(p *otos.Principal, action, target, tenantID string, err error) {
	r := &otos.AuditRecord{Kind: otos.AuditAdmin, Action: action, Code: resultCode(err), Target: target,
		TenantID: tenantID, Actor: p.Actor(), ClientAddr: p.From.Addr}
	if r.TenantID == "" {
		r.TenantID = string(p.Scope)
	}
	a.record(r)
}

// resultCode is the wire number of an outcome: 200 for success.
func resultCode(err error) int {
	if err == nil {
		return otos.CodeOK
	}
	return otos.ErrorCode(err).Number()
}

func joinDetail(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}

// flush writes the queued audit records.
func (a *auditLog) flush(ctx context.Context) {
	a.mu.Lock()
	rs, dropped := a.pending, a.dropped
	a.pending, a.dropped = nil, 0
	clear(a.same) // a written record can count no more
	a.mu.Unlock()
	if dropped > 0 {
		a.c.log.Error("audit records dropped: the store is not keeping up", "dropped", dropped)
	}
	if len(rs) == 0 {
		return
	}
	if err := a.c.store.AppendAudit(ctx, rs); err != nil {
		a.c.log.Error("write audit records", "records", len(rs), "err", err)
		// Only a store that could not be reached is worth retrying; a batch
		// refused for what it holds would block every later record.
		if otos.ErrorCode(err) == otos.EUNAVAILABLE {
			a.requeue(rs)
		}
	}
}

// requeue puts records back after a failed write, within the bound.
func (a *auditLog) requeue(rs []*otos.AuditRecord) {
	a.mu.Lock()
	defer a.mu.Unlock()
	room := maxPendingAudit - len(a.pending)
	if room < len(rs) {
		a.dropped += int64(len(rs) - room)
		rs = rs[:max(room, 0)]
	}
	a.pending = append(rs, a.pending...)
}

// prune deletes audit records older than retention.
func (a *auditLog) prune(ctx context.Context, retention time.Duration) {
	n, err := a.c.store.PruneAudit(ctx, a.c.now().Add(-retention))
	if ctx.Err() != nil {
		return // stopping
	}
	if err != nil {
		a.c.log.Warn("prune audit", "err", err)
	} else if n > 0 {
		a.c.log.Info("audit pruned", "records", n, "retention", retention.String())
	}
}
