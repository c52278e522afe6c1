package provision

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/otos-iot/otos"
)

// Notifier carries messages between the otos nodes that share one store,
// such as PostgreSQL's LISTEN/NOTIFY (postgres.DB). Publish sends msg to
// every other node; Subscribe calls fn with each message another node
// publishes, and with "" when messages may have been lost.
type Notifier interface {
	Publish(ctx context.Context, msg string) error
	Subscribe(fn func(msg string))
}

// The messages the views publish, each followed by an id: a device or
// service account whose views the other nodes must drop, with drop their
// live sessions too, or a template whose settings or secrets changed.
const (
	msgForget   = "forget "
	msgDrop     = "drop "
	msgTemplate = "template "
	msgRotate   = "rotate " // tenant template device deadline, "-" for none
	msgExpire   = "expire " // voucher-key tenant template device until
)

// publishTimeout bounds the sending of one message.
const publishTimeout = 5 * time.Second

// publish sends kind+id to the other nodes in the background, for the
// caller must not wait on the database; a failure is logged.
func (v *views) publish(kind, id string) {
	if v.notifier == nil {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
		defer cancel()
		if err := v.notifier.Publish(ctx, kind+id); err != nil {
			v.log.Warn("cluster: tell other nodes", "id", id, "err", err)
		}
	}()
}

// receive applies a message another node published, on this node only. It
// reports whether every view was dropped because messages may have been
// lost: then the live sessions must be checked again.
func (v *views) receive(msg string) (lost bool) {
	switch {
	case msg == "":
		v.flush()
		return true
	case strings.HasPrefix(msg, msgForget):
		v.forget(strings.TrimPrefix(msg, msgForget))
	case strings.HasPrefix(msg, msgDrop):
		id := strings.TrimPrefix(msg, msgDrop)
		v.forget(id)
		v.dropLocal(id)
	case strings.HasPrefix(msg, msgTemplate):
		v.forgetTemplateLocal(strings.TrimPrefix(msg, msgTemplate))
	case strings.HasPrefix(msg, msgRotate):
		sc, deadline, ok := parseRotate(strings.TrimPrefix(msg, msgRotate))
		if !ok {
			v.log.Warn("cluster: bad rotate message from another node", "len", len(msg))
			break
		}
		v.rotationRequestedLocal(sc, deadline)
	case strings.HasPrefix(msg, msgExpire):
		e, ok := parseExpiry(strings.TrimPrefix(msg, msgExpire))
		if !ok {
			v.log.Warn("cluster: bad expire message from another node", "len", len(msg))
			break
		}
		if v.expireLocal != nil {
			v.expireLocal(e)
		}
	default:
		v.log.Warn("cluster: unknown message from another node", "len", len(msg))
	}
	return false
}

// formatRotate is the body of a rotate message.
func formatRotate(sc otos.RotationScope, deadline *time.Time) string {
	dl := "-"
	if deadline != nil {
		dl = strconv.FormatInt(deadline.UnixMicro(), 10)
	}
	return strings.Join([]string{orDash(sc.TenantID), orDash(sc.TemplateID), orDash(sc.DeviceID), dl}, " ")
}

// parseRotate reads the body of a rotate message.
func parseRotate(s string) (otos.RotationScope, *time.Time, bool) {
	f := strings.Split(s, " ")
	if len(f) != 4 {
		return otos.RotationScope{}, nil, false
	}
	undash := func(s string) string { return strings.TrimPrefix(s, "-") }
	sc := otos.RotationScope{TenantID: undash(f[0]), TemplateID: undash(f[1]), DeviceID: undash(f[2])}
	if f[3] == "-" {
		return sc, nil, true
	}
	us, err := strconv.ParseInt(f[3], 10, 64)
	if err != nil {
		return sc, nil, false
	}
	t := time.UnixMicro(us).UTC()
	return sc, &t, true
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// expiry is when the sessions of one voucher end: its key (see
// otos.Session.VoucherKey), and its device's, to apply a forced
// rotation's deadline to it too.
type expiry struct {
	key, tenant, template, device string
	until                         time.Time
}

// String is the body of an expire message.
func (e expiry) String() string {
	return strings.Join([]string{e.key, orDash(e.tenant), orDash(e.template), orDash(e.device),
		strconv.FormatInt(e.until.UnixMicro(), 10)}, " ")
}

// parseExpiry reads the body of an expire message.
func parseExpiry(s string) (expiry, bool) {
	f := strings.Split(s, " ")
	if len(f) != 5 || f[0] == "" {
		return expiry{}, false
	}
	us, err := strconv.ParseInt(f[4], 10, 64)
	if err != nil {
		return expiry{}, false
	}
	undash := func(s string) string { return strings.TrimPrefix(s, "-") }
	return expiry{key: f[0], tenant: undash(f[1]), template: undash(f[2]), device: undash(f[3]),
		until: time.UnixMicro(us).UTC()}, true
}
