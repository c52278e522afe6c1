package http

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// route is one route of the device API or of the operational endpoints.
type route struct {
	pattern string
	h       http.Handler
}

// deviceRoutes are the routes of the device API and the operational
// endpoints; the admin API's are adminTable. One list, so that the test of
// the OpenAPI document sees every route that Handler registers.
func (s *Server) deviceRoutes() []route {
	return []route{
		{"POST /api/v1/device/auth", http.HandlerFunc(s.handleDeviceAuth)},
		{"POST /api/v1/gateway/sub-devices", http.HandlerFunc(s.handleSubDevices)},
		{"POST /api/v1/device/voucher/rotate", http.HandlerFunc(s.handleRotate)},
		{"GET /healthz", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		})},
		{"GET /readyz", http.HandlerFunc(s.handleReady)},
		{"GET /metrics", promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{})},
		{"GET /openapi.json", http.HandlerFunc(serveOpenAPI)},
	}
}
