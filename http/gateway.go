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
	s.byVoucher(w, r, "gateway", func(gw *otos.Session) (err error) {
		outs, err = s.cfg.Registrar.RegisterSubDevices(r.Context(), gw, func() ([]otos.SubDeviceRequest, error) {
			body, err := readBody(w, r, otos.MaxAuthBody*otos.MaxSubDeviceBatch/16)
			if err != nil {
				return nil, err
			}
			return otos.DecodeSubDeviceBatch(body)
		})
		return err
	}, func(err error) any { return otos.NewBatchReply(outs, err, lang) })
}
