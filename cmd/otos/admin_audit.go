package main

import (
	"flag"
	"strconv"
	"time"

	"github.com/otos-iot/otos"
)

var auditCommands = []command{
	{"list", "", "List audit records, oldest first: registration attempts and admin changes", auditList},
}

func auditList(fs *flag.FlagSet) action {
	l := defineListing(fs,
		fieldFlag{"since", "since", "only records from `TIME` on: RFC 3339 (2026-01-02T15:04:05Z) or a duration ago (24h)"},
		fieldFlag{"number", "device_number", "only the records of this device `NUMBER`"},
		fieldFlag{"template", "template_id", "only the records of this template `ID`"})
	fields := l.fields
	l.fields = func() map[string]string {
		f := fields()
		if v, ok := f["since"]; ok {
			f["since"] = sinceTime(v, time.Now())
		}
		return f
	}
	return listOf("/api/v1/audit", l, auditColumns)
}

// sinceTime turns a duration like 24h into the RFC 3339 time that long
// before now; anything else is left for the server to check.
func sinceTime(v string, now time.Time) string {
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return v
	}
	return now.Add(-d).UTC().Format(time.RFC3339)
}

var auditColumns = columns[otos.AuditRecord]{
	header: []string{"AT", "KIND", "ACTION", "CODE", "COUNT", "ACTOR", "TEMPLATE", "DEVICE NUMBER", "TARGET"},
	row: func(r *otos.AuditRecord) []string {
		return []string{timestamp(&r.At), string(r.Kind), r.Action, strconv.Itoa(r.Code), strconv.Itoa(r.Count),
			r.Actor, r.TemplateID, r.DeviceNumber, r.Target}
	},
}
