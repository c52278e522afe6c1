package http

import (
	"net/http"
	"time"

	"github.com/otos-iot/otos"
)

// handleDeviceAuth serves POST /api/v1/device/auth. The core refuses a
// locked-out client before the body is read, audits every attempt and
// counts failed secrets; this handler reads the body and writes the answer.
func (s *Server) handleDeviceAuth(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	lang := language(r.Header.Get("Accept-Language"))
	iss, err := s.cfg.Registrar.Register(r.Context(), s.clientOf(r), func() (*otos.AuthRequest, error) {
		body, err := readBody(w, r, otos.MaxAuthBody)
		if err != nil {
			return nil, err
		}
		return otos.DecodeAuthRequest(body)
	})
	env, status := otos.NewAuthReply(iss, err, lang), http.StatusOK
	if err != nil {
		logError(s.log, r, err)
		status = errorStatus(err)
		setRetryAfter(w.Header(), err)
		switch otos.ErrorCode(err) {
		case otos.ELOCKEDOUT:
			s.metrics.rateLimited.WithLabelValues("lockout").Inc()
		case otos.ERATELIMITED:
			s.metrics.rateLimited.WithLabelValues("template").Inc()
		}
	}
	if s.cfg.CompatThingsPanel {
		status, env = http.StatusOK, env.ThingsPanel()
	}
	writeJSON(w, status, env)
	s.metrics.registrations.WithLabelValues(itoa(env.Code)).Inc()
	s.metrics.latency.Observe(time.Since(start).Seconds())
}

// handleRotate serves POST /api/v1/device/voucher/rotate: a device,
// authenticated by its voucher as HTTP Basic credentials (an ACCESSTOKEN
// voucher's username with an empty password), gets a new voucher; the one
// it sent keeps working through its template's overlap, or until the new
// one is used. The answer is that of a registration.
func (s *Server) handleRotate(w http.ResponseWriter, r *http.Request) {
	lang := language(r.Header.Get("Accept-Language"))
	var iss *otos.Issued
	s.byVoucher(w, r, "device", func(dev *otos.Session) (err error) {
		iss, err = s.cfg.Registrar.Rotate(r.Context(), dev)
		return err
	}, func(err error) any { return otos.NewAuthReply(iss, err, lang) })
}
