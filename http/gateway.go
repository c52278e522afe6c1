package http

import (
	"net/http"

	"github.com/otos-iot/otos"
)

// handleSubDevices serves POST /api/v1/gateway/sub-devices: a gateway,
// authenticated by its voucher as HTTP Basic credentials, registers a batch
// of its sub-devices; the answer holds one result per entry.
func (s *Server) handleSubDevices(w http.ResponseWriter, r *http.Request) {
	lang := language(r.Header.Get("Accept-Language"))
	var outs []otos.SubDeviceOutcome
	var err error
	user, pass, ok := r.BasicAuth()
	if !ok || s.cfg.Sessions == nil {
		err = otos.Errorf(otos.EUNAUTHORIZED, "Send the gateway's voucher (username and password) as HTTP Basic credentials")
	} else {
		var gw *otos.Session
		if gw, err = s.cfg.Sessions.Authenticate(r.Context(), s.clientOf(r), user, pass); err == nil {
			outs, err = s.cfg.Registrar.RegisterSubDevices(r.Context(), gw, func() ([]otos.SubDeviceRequest, error) {
				body, err := readBody(w, r, otos.MaxAuthBody*otos.MaxSubDeviceBatch/16)
				if err != nil {
					return nil, err
				}
				return otos.DecodeSubDeviceBatch(body)
			})
		}
	}
	status := http.StatusOK
	if err != nil {
		logError(s.log, r, err)
		status = errorStatus(err)
		setRetryAfter(w.Header(), err)
		if otos.ErrorCode(err) == otos.EUNAUTHORIZED {
			w.Header().Set("WWW-Authenticate", `Basic realm="otos gateway"`)
		}
	}
	if s.cfg.CompatThingsPanel {
		status = http.StatusOK
	}
	writeJSON(w, status, otos.NewBatchReply(outs, err, lang))
}
