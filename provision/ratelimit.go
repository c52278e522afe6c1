package provision

import (
	"github.com/otos-iot/otos"
)

// admitRate takes one registration from template t's rate limit (RateLimit
// registrations a second, in bursts of up to one second's worth) and returns
// ERATELIMITED, carrying the wait in RetryAfter, when the template is over
// it. A template without a limit is always admitted. The limit is kept in
// this process's memory: each otos node applies it separately.
func (s *Service) admitRate(t *otos.Template) error {
	if t.RateLimit <= 0 {
		return nil
	}
	wait, ok := s.rates.Allow(t.ID, float64(t.RateLimit), t.RateLimit, s.now())
	if ok {
		return nil
	}
	return &otos.Error{Code: otos.ERATELIMITED, RetryAfter: wait,
		Message: "Too many registrations for this template right now; retry shortly"}
}
