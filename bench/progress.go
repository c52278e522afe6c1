package bench

import (
	"fmt"
	"io"
	"time"
)

// startProgress writes line(elapsed since start) to w every interval until
// the returned function is called, which waits for the writer to stop. With
// no w it does nothing.
func startProgress(w io.Writer, every time.Duration, start time.Time, line func(time.Duration) string) (stop func()) {
	if w == nil || every <= 0 {
		return func() {}
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				fmt.Fprintln(w, "bench: "+line(time.Since(start)))
			}
		}
	}()
	return func() {
		close(quit)
		<-done
	}
}
