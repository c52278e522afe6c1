package http

import (
	"net/http"

	"github.com/otos-iot/otos"
)

// byVoucher serves a device route authenticated by a voucher sent as HTTP
// Basic credentials (who, in the messages: "device" or "gateway"): fn runs
// for its session, and answer writes fn's outcome, with the status the
// error gives (always 200 under --compat-thingspanel).
func (s *Server) byVoucher(w http.ResponseWriter, r *http.Request, who string, fn func(*otos.Session) error, answer func(error) any) {
	var err error
	user, pass, ok := r.BasicAuth()
	if !ok || s.cfg.Sessions == nil {
		err = otos.Errorf(otos.EUNAUTHORIZED, "Send the %s's voucher (username and password) as HTTP Basic credentials", who)
	} else {
		var sess *otos.Session
		if sess, err = s.cfg.Sessions.Authenticate(r.Context(), s.clientOf(r), user, pass); err == nil {
			err = fn(sess)
		}
	}
	status := http.StatusOK
	if err != nil {
		logError(s.log, r, err)
		status = errorStatus(err)
		setRetryAfter(w.Header(), err)
		if otos.ErrorCode(err) == otos.EUNAUTHORIZED {
			w.Header().Set("WWW-Authenticate", `Basic realm="otos `+who+`"`)
		}
	}
	if s.cfg.CompatThingsPanel {
		status = http.StatusOK
	}
	writeJSON(w, status, answer(err))
}
