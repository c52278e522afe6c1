// Command otos-healthcheck asks a running otos whether it is ready: it GETs
// its readiness endpoint and exits 0 on 200, 1 otherwise. It is the
// container image's HEALTHCHECK, where a static image has no curl.
//
// The URL is OTOS_HEALTH_URL; without it, /readyz on the port of OTOS_HTTP
// (the address otos serve listens on), on 127.0.0.1 by default.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"time"
)

func main() {
	url := healthURL(os.Getenv)
	client := &http.Client{Timeout: 3 * time.Second}
	res, err := client.Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, "otos-healthcheck:", err)
		os.Exit(1)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		fmt.Fprintf(os.Stderr, "otos-healthcheck: %s answered %s\n", url, res.Status)
		os.Exit(1)
	}
}

// healthURL returns OTOS_HEALTH_URL, or /readyz at the address of OTOS_HTTP
// with an unspecified host (":8080", "0.0.0.0:8080") read as 127.0.0.1.
func healthURL(env func(string) string) string {
	if u := env("OTOS_HEALTH_URL"); u != "" {
		return u
	}
	host, port := "127.0.0.1", "8080"
	if h, p, err := net.SplitHostPort(env("OTOS_HTTP")); err == nil {
		port = p
		if ip := net.ParseIP(h); h != "" && (ip == nil || !ip.IsUnspecified()) {
			host = h
		}
	}
	return "http://" + net.JoinHostPort(host, port) + "/readyz"
}
