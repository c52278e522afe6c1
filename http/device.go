package http

import (
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
	res, req, err := s.register(w, r)
	if err == nil {
		env.Data = authData{DeviceID: res.Device.ID, Voucher: res.Voucher.String()}
	} else {
		logError(s.log, r, err)
		status = errorStatus(err)
		env = Envelope{Code: errorCode(err).Number(), Message: message(err, lang)}
		if req != nil {
			s.log.Info("registration refused", "code", env.Code, "device_number", req.DeviceNumber, "remote", r.RemoteAddr)
		}
	}
	if s.cfg.CompatThingsPanel {
		status = http.StatusOK
	}
	writeJSON(w, status, env)
	s.metrics.registrations.WithLabelValues(itoa(env.Code)).Inc()
	s.metrics.latency.Observe(time.Since(start).Seconds())
}

// register reads, decodes and runs one registration. It returns the decoded
// request, when there is one, for the log.
func (s *Server) register(w http.ResponseWriter, r *http.Request) (*provision.Registration, *otos.AuthRequest, error) {
	body, err := readBody(w, r, MaxAuthBody)
	if err != nil {
		return nil, nil, err
	}
	req, err := DecodeAuthRequest(body)
	if err != nil {
		return nil, nil, err
	}
	res, err := s.cfg.Service.Register(r.Context(), req)
	return res, req, err
}
