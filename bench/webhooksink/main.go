// Command webhooksink is a webhook endpoint for load tests: it answers 204
// to every POST and prints, every second to stderr, how many events it has
// taken (one a request, or a batch's), so that bench/ratios.sh can see that
// deliveries keep up. It checks no signature: it stands in for a fast
// receiver.
package main

import (
	"bytes"
	"flag"
	"io"
	"log"
	"net/http"
	"sync/atomic"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18184", "listen address")
	flag.Parse()
	var n atomic.Int64
	http.HandleFunc("POST /", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		n.Add(int64(bytes.Count(body, []byte(`"type":`)))) // one per event
		w.WriteHeader(http.StatusNoContent)
	})
	go func() {
		for range time.Tick(time.Second) {
			log.Printf("received %d", n.Load())
		}
	}()
	log.Fatal(http.ListenAndServe(*addr, nil))
}
