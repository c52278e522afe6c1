package http

import (
	"errors"
	"io"
	"net/http"

	"github.com/otos-iot/otos"
)

// presizeMax bounds the buffer allocated for a body's declared length
// before any of it has arrived, so that a client cannot make the server
// hold more than this for a body it never sends.
const presizeMax = 2 << 10

// readBody reads at most limit bytes of r's body: ETOOLARGE beyond.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	body := http.MaxBytesReader(w, r.Body, limit)
	var b []byte
	var err error
	if n := r.ContentLength; n >= 0 && n <= min(limit, presizeMax) {
		// The declared length, in one allocation: net/http's body reader
		// ends at Content-Length, and a shorter body is an error.
		b = make([]byte, n)
		_, err = io.ReadFull(body, b)
	} else {
		b, err = io.ReadAll(body)
	}
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, otos.Errorf(otos.ETOOLARGE, "Request body exceeds %d bytes", limit)
	case err != nil:
		return nil, otos.Errorf(otos.EINVALID, "Request body could not be read")
	}
	return b, nil
}
