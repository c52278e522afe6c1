package http

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/otos-iot/otos"
	"github.com/otos-iot/otos/provision"
)

// authData is the data of a successful device auth answer.
type authData struct {
	DeviceID string `json:"device_id"`
	Voucher  string `json:"voucher"`
}

// handleDeviceAuth serves POST /api/v1/device/auth.
func (s *Server) handleDeviceAuth(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	lang := language(r.Header.Get("Accept-Language"))
	env, status := Envelope{Code: otos.CodeOK, Message: successMessage(lang)}, http.StatusOK
	from := s.clientOf(r)
	res, req, err := s.authenticate(w, r, from)
	if err == nil {
		env.Data = authData{DeviceID: res.Device.ID, Voucher: res.Voucher.String()}
	} else {
		logError(s.log, r, err)
		status = errorStatus(err)
		setRetryAfter(w.Header(), err)
		env = Envelope{Code: errorCode(err).Number(), Message: message(err, lang)}
		if req != nil && s.log.Enabled(r.Context(), slog.LevelInfo) {
			s.log.InfoContext(r.Context(), "registration refused", "code", env.Code, "device_number", req.DeviceNumber, "client", from.addr)
		}
	}
	if s.cfg.CompatThingsPanel {
		status = http.StatusOK
	}
	writeJSON(w, status, env)
	s.metrics.registrations.WithLabelValues(itoa(env.Code)).Inc()
	s.metrics.latency.Observe(time.Since(start).Seconds())
}

// authenticate refuses a locked-out client before doing any work; otherwise
// it runs the registration and counts a failed secret or signature against
// the client. Refusals that never reach the service are audited here.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, from client) (*provision.Registration, *otos.AuthRequest, error) {
	if err := s.lockedOut(from); err != nil {
		s.metrics.rateLimited.WithLabelValues("lockout").Inc()
		s.cfg.Service.RecordRefusal(nil, from.addr, otos.ERATELIMITED)
		return nil, nil, err
	}
	res, req, err := s.register(w, r, from)
	if err != nil && req == nil {
		s.cfg.Service.RecordRefusal(nil, from.addr, errorCode(err))
	}
	s.countFailure(from, err)
	if errorCode(err) == otos.ERATELIMITED {
		s.metrics.rateLimited.WithLabelValues("template").Inc()
	}
	return res, req, err
}

// register reads, decodes and runs one registration. It returns the decoded
// request, when there is one, for the log.
func (s *Server) register(w http.ResponseWriter, r *http.Request, from client) (*provision.Registration, *otos.AuthRequest, error) {
	body, err := readBody(w, r, MaxAuthBody)
	if err != nil {
		return nil, nil, err
	}
	req, err := DecodeAuthRequest(body)
	if err != nil {
		return nil, nil, err
	}
	req.ClientAddr = from.addr
	res, err := s.cfg.Service.Register(r.Context(), req)
	return res, req, err
}
