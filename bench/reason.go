package bench

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"
)

// reason names why a request or a connection failed, in a few stable words
// that a report can count by.
func reason(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, errBadBody):
		return "bad_body"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection_refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "connection_reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "no_local_port" // the client ran out of ephemeral ports
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return "too_many_open_files"
	}
	return "other"
}
