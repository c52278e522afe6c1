package provision

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/otos-iot/otos"
)

// Bounds of the overview's counters, per tenant.
const (
	overviewMinutes = 60
	overviewLatest  = 20
	overviewAddrs   = 1_000 // refused addresses tracked a minute; past it, new ones go uncounted
	overviewTop     = 10
)

// stats counts registrations for the overview, per tenant, in one-minute
// buckets of the last hour, in memory: what the console's first page and
// its live chart show without reading the store.
type stats struct {
	mu      sync.Mutex
	tenants map[string]*tenantStats // "" holds refusals that matched no template
}

type tenantStats struct {
	minutes [overviewMinutes]minuteStats
	latest  []otos.Registered // newest last
}

type minuteStats struct {
	minute   int64 // Unix minute this bucket counts
	ok       int
	refusals map[int]int
	addrs    map[string]int
}

// registration counts one registration attempt of template t (nil when none
// matched) from client from, which issued iss or failed with err.
func (s *stats) registration(t *otos.Template, from otos.Client, iss *otos.Issued, err error, now time.Time) {
	tenant := ""
	if t != nil {
		tenant = t.TenantID
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tenants == nil {
		s.tenants = map[string]*tenantStats{}
	}
	ts := s.tenants[tenant]
	if ts == nil {
		ts = &tenantStats{}
		s.tenants[tenant] = ts
	}
	m := ts.bucket(now)
	if err == nil {
		m.ok++
		if iss != nil {
			ts.latest = append(ts.latest, otos.Registered{At: now, DeviceID: iss.Device.ID,
				DeviceNumber: iss.Device.DeviceNumber, TemplateID: iss.Device.TemplateID, ClientAddr: from.Addr})
			if len(ts.latest) > overviewLatest {
				ts.latest = slices.Delete(ts.latest, 0, len(ts.latest)-overviewLatest)
			}
		}
		return
	}
	if m.refusals == nil {
		m.refusals, m.addrs = map[int]int{}, map[string]int{}
	}
	m.refusals[otos.ErrorCode(err).Number()]++
	if _, ok := m.addrs[from.Addr]; ok || len(m.addrs) < overviewAddrs {
		m.addrs[from.Addr]++
	}
}

// bucket returns the bucket of now's minute, emptied if it held an older one.
func (ts *tenantStats) bucket(now time.Time) *minuteStats {
	minute := now.Unix() / 60
	m := &ts.minutes[minute%overviewMinutes]
	if m.minute != minute {
		*m = minuteStats{minute: minute}
	}
	return m
}

// fill adds to o what the tenants whose stats keep says of the last hour.
func (s *stats) fill(o *otos.Overview, keep func(tenant string) bool, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	current := now.Unix() / 60
	o.Registrations = make([]int, overviewMinutes)
	codes, addrs := map[int]int{}, map[string]int{}
	for tenant, ts := range s.tenants {
		if !keep(tenant) {
			continue
		}
		for i := range ts.minutes {
			m := &ts.minutes[i]
			age := current - m.minute
			if age < 0 || age >= overviewMinutes {
				continue
			}
			o.Registrations[overviewMinutes-1-age] += m.ok
			for c, n := range m.refusals {
				codes[c] += n
			}
			for a, n := range m.addrs {
				addrs[a] += n
			}
		}
		o.Latest = append(o.Latest, ts.latest...)
	}
	for c, n := range codes {
		o.Refusals = append(o.Refusals, otos.CodeCount{Code: c, Count: n})
	}
	slices.SortFunc(o.Refusals, func(a, b otos.CodeCount) int { return cmp.Or(b.Count-a.Count, a.Code-b.Code) })
	for a, n := range addrs {
		o.TopRefused = append(o.TopRefused, otos.AddrCount{Addr: a, Count: n})
	}
	slices.SortFunc(o.TopRefused, func(a, b otos.AddrCount) int { return cmp.Or(b.Count-a.Count, cmp.Compare(a.Addr, b.Addr)) })
	o.TopRefused = o.TopRefused[:min(len(o.TopRefused), overviewTop)]
	slices.SortFunc(o.Latest, func(a, b otos.Registered) int { return b.At.Compare(a.At) })
	o.Latest = o.Latest[:min(len(o.Latest), overviewLatest)]
}

// Overview implements otos.Admin.
func (a *Admin) Overview(ctx context.Context, p *otos.Principal) (*otos.Overview, error) {
	o := &otos.Overview{Refusals: []otos.CodeCount{}, TopRefused: []otos.AddrCount{}, Latest: []otos.Registered{}}
	cursor := ""
	for {
		ts, next, err := a.store.Templates(ctx, otos.TemplateFilter{TenantID: string(p.Scope),
			Page: otos.Page{Limit: otos.MaxPageLimit, Cursor: cursor}})
		if err != nil {
			return nil, err
		}
		for _, t := range ts {
			o.Devices += int64(t.DeviceCount)
		}
		if cursor = next; cursor == "" {
			break
		}
	}
	o.Online = a.online(p.Scope)
	a.stats.fill(o, func(tenant string) bool { return p.Scope == "" || otos.Scope(tenant) == p.Scope }, a.now())
	return o, nil
}
