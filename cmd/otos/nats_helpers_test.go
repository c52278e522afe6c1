package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// natsCluster is a cluster of real nats-server nodes, in this process, on
// free ports, configured with the block `otos nats config` printed.
type natsCluster struct {
	servers []*server.Server
	urls    []string // each node's client URL
	mqtt    []string // each node's MQTT URL
}

// otosNATSBlock returns what `otos nats config` prints for the store in
// the data directory dir.
func otosNATSBlock(t *testing.T, dir string) string {
	t.Helper()
	return natsConfigOf(t, "--data", dir)
}

// otosNATSBlockDB returns what `otos nats config` prints for the
// PostgreSQL database dsn.
func otosNATSBlockDB(t *testing.T, dsn string) string {
	t.Helper()
	return natsConfigOf(t, "--data", t.TempDir(), "--db", dsn)
}

func natsConfigOf(t *testing.T, flags ...string) string {
	t.Helper()
	var out, errs bytes.Buffer
	if err := run(t.Context(), append([]string{"nats", "config"}, flags...), &out, &errs, func(string) string { return "" }); err != nil {
		t.Fatalf("otos nats config: %v: %s", err, errs.String())
	}
	return out.String()
}

// startNATS starts n clustered nodes with JetStream and MQTT and block.
func startNATS(t *testing.T, n int, block string) *natsCluster {
	t.Helper()
	c := &natsCluster{}
	routes := make([]string, n)
	clusterPorts := make([]int, n)
	for i := range n {
		clusterPorts[i] = freePort(t)
		routes[i] = fmt.Sprintf("nats-route://127.0.0.1:%d", clusterPorts[i])
	}
	for i := range n {
		mqttPort := freePort(t)
		conf := fmt.Sprintf("server_name: n%d\nlisten: 127.0.0.1:-1\n"+
			"jetstream { store_dir: %q, max_mem_store: 64MB, max_file_store: 256MB }\n"+
			"mqtt { host: 127.0.0.1, port: %d }\n", i, t.TempDir(), mqttPort)
		if n > 1 {
			conf += fmt.Sprintf("cluster { name: otos-test, listen: 127.0.0.1:%d, routes: [%s] }\n",
				clusterPorts[i], strings.Join(routes, ", "))
		}
		path := filepath.Join(t.TempDir(), "nats.conf")
		if err := os.WriteFile(path, []byte(conf+block), 0o600); err != nil {
			t.Fatal(err)
		}
		opts, err := server.ProcessConfigFile(path)
		if err != nil {
			t.Fatalf("nats config: %v\n%s", err, conf+block)
		}
		opts.NoSigs, opts.NoLog = true, true
		s, err := server.NewServer(opts)
		if err != nil {
			t.Fatal(err)
		}
		s.Start()
		t.Cleanup(s.Shutdown)
		c.servers = append(c.servers, s)
		c.mqtt = append(c.mqtt, fmt.Sprintf("tcp://127.0.0.1:%d", mqttPort))
	}
	for _, s := range c.servers {
		if !s.ReadyForConnections(20 * time.Second) {
			t.Fatal("nats-server not ready")
		}
		c.urls = append(c.urls, s.ClientURL())
	}
	if n > 1 {
		eventually(t, func() bool {
			for _, s := range c.servers {
				if s.NumRoutes() < n-1 || !s.JetStreamIsCurrent() {
					return false
				}
			}
			return true
		}, 30*time.Second)
	}
	return c
}

// url returns the client URLs of every node, for otos --nats.
func (c *natsCluster) url() string { return strings.Join(c.urls, ",") }

// freePort returns a TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
