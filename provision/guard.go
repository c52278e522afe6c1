package provision

import (
	"log/slog"
	"strconv"
	"time"

	"github.com/otos-iot/otos"
	"github.com/otos-iot/otos/limit"
)

// guard applies the lock-out to every protocol's credential checks:
// registrations (secrets, signatures) and broker CONNECTs (passwords,
// usernames), keyed by the client's address. Which refusals count is a
// column of the table of codes (otos.Code.CountsTowardLockout).
type guard struct {
	lockout *limit.Lockout // nil: off
	now     func() time.Time
	log     *slog.Logger
}

// check returns ELOCKEDOUT, carrying the wait, while from is locked out.
func (g *guard) check(from otos.Client) error {
	if g.lockout == nil {
		return nil
	}
	wait, locked := g.lockout.Locked(from.Key, g.now())
	if !locked {
		return nil
	}
	secs := int64((wait + time.Second - 1) / time.Second)
	return &otos.Error{Code: otos.ELOCKEDOUT, RetryAfter: wait,
		Message: "Too many failed attempts from this address; retry in " + strconv.FormatInt(secs, 10) + " seconds"}
}

// count counts err against from when it is a failed credential.
func (g *guard) count(from otos.Client, err error) {
	if g.lockout == nil || err == nil {
		return
	}
	code := otos.ErrorCode(err)
	if !code.CountsTowardLockout() {
		return
	}
	if g.lockout.Fail(from.Key, g.now()) {
		g.log.Warn("client locked out", "client", from.Addr, "key", from.Key, "last_code", code.Number())
	}
}
