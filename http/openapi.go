package http

import (
	_ "embed"
	"net/http"
)

// openAPI is the OpenAPI document of the device and admin APIs, written by
// hand; TestOpenAPIRoutes fails when it and the routes part.
//
//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the OpenAPI 3.0 document of the device API, the admin API
// and the operational endpoints, as served at GET /openapi.json.
func OpenAPI() []byte {
	// A copy: a caller cannot change what the server serves.
	return append([]byte(nil), openAPI...)
}

// serveOpenAPI serves GET /openapi.json.
func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	// It changes only with the binary; a client may keep it a while.
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(openAPI)
}
