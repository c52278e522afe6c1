package http

import (
	"time"

	"github.com/otos-iot/otos"
)

// lockoutCodes are the refusals that count towards a client's lock-out: a
// wrong secret, or a signed request that does not verify, is what guessing
// looks like. Nothing else counts: successes and other refusals (a device
// that exists, a malformed body) never throttle a client.
var lockoutCodes = map[otos.Code]bool{
	otos.ESECRETUNKNOWN: true,
	otos.EBADSIGNATURE:  true,
	otos.ESTALE:         true,
	otos.EREPLAY:        true,
}

// lockedOut returns an ERATELIMITED error, carrying the wait, while the
// client is locked out.
func (s *Server) lockedOut(from client) error {
	if s.cfg.Lockout == nil {
		return nil
	}
	wait, locked := s.cfg.Lockout.Locked(from.key, s.now())
	if !locked {
		return nil
	}
	return &otos.Error{Code: otos.ERATELIMITED, RetryAfter: wait,
		Message: "Too many failed attempts from this address; retry in " + itoa(int(retrySeconds(wait))) + " seconds"}
}

// countFailure counts err against the client when it is a failed secret or
// signature.
func (s *Server) countFailure(from client, err error) {
	code := errorCode(err)
	if s.cfg.Lockout == nil || !lockoutCodes[code] {
		return
	}
	if s.cfg.Lockout.Fail(from.key, s.now()) {
		s.metrics.lockouts.Inc()
		s.log.Warn("client locked out", "client", from.addr, "key", from.key, "last_code", code.Number())
	}
}

// now is the clock of the limits.
func (s *Server) now() time.Time {
	if s.cfg.Now != nil {
		return s.cfg.Now()
	}
	return time.Now()
}
