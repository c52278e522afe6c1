package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/otos-iot/otos/bench"
)

// defaultBenchDevices is how many requests "otos bench" sends when neither
// --devices nor --duration says.
const defaultBenchDevices = 1000

// runBench runs "otos bench": the load tool of package bench. Progress goes
// to stderr, the report to stdout (JSON with --json).
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) string) error {
	cfg, asJSON, err := parseBenchFlags(args, stderr, env)
	if err != nil {
		return err
	}
	cfg.Progress = stderr
	rep, err := bench.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return rep.WriteText(stdout)
}

// parseBenchFlags turns the command line into a bench.Config.
func parseBenchFlags(args []string, stderr io.Writer, env func(string) string) (bench.Config, bool, error) {
	var cfg bench.Config
	var mode, tlsCA string
	var asJSON bool
	fs := flag.NewFlagSet("otos bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: otos bench --secret S [flags]\n\n"+
			"Simulates devices against an otos (or ThingsPanel-compatible) server: registers them over\n"+
			"C connections, then, with --mqtt, connects them with their vouchers and publishes telemetry.\n"+
			"Reports throughput, latency and the answers by result code.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&cfg.Server, "server", firstNonEmpty(env("OTOS_SERVER"), defaultServer), "server `URL` (env OTOS_SERVER)")
	// The secret is read from the environment after parsing, so that -h cannot print it.
	fs.StringVar(&cfg.Secret, "secret", "", "template secret (env OTOS_TEMPLATE_SECRET, safer: flags show in ps)")
	fs.StringVar(&mode, "mode", string(bench.ModeNew), "new (distinct device numbers), repeat (one number, registered first), bad-secret, or rotate (a device per connection, rotating its voucher)")
	fs.StringVar(&cfg.Tag, "tag", "", "prefix of the device numbers, `<tag>-<n>` (default a timestamp)")
	fs.IntVar(&cfg.Devices, "devices", defaultBenchDevices, "requests to send, one device each in mode new (with --duration alone: no limit)")
	fs.IntVar(&cfg.Concurrency, "concurrency", bench.DefaultConcurrency, "requests in flight at once, each on its own connection")
	fs.DurationVar(&cfg.Duration, "duration", 0, "stop registering after this long, if --devices are not done first")
	fs.DurationVar(&cfg.Timeout, "timeout", bench.DefaultTimeout, "timeout of one request")
	fs.StringVar(&tlsCA, "tls-ca", "", "PEM CA certificate(s) to verify an https:// server with (default: the system's)")
	fs.BoolVar(&cfg.Sign, "sign", false, "send signed requests (fresh nonce each) instead of the secret; needs --template-id")
	fs.StringVar(&cfg.TemplateID, "template-id", "", "the template's `ID`, named by signed requests")
	fs.StringVar(&cfg.MQTT.Addr, "mqtt", "", "broker `host:port` or tcp://host:port: connect the registered devices (mode new), or the repeated one once (mode repeat)")
	fs.Float64Var(&cfg.MQTT.ConnectRate, "connect-rate", 0, "MQTT CONNECTs a second at most, overall (0: as fast as --concurrency allows)")
	fs.DurationVar(&cfg.MQTT.Hold, "hold", 0, "keep the MQTT sessions open this long once all have connected")
	fs.Float64Var(&cfg.MQTT.PublishRate, "publish-rate", 0, "telemetry messages a second, overall, published while the sessions are held")
	fs.BoolVar(&cfg.MQTT.Reconnect, "reconnect", false, "then disconnect the sessions and connect them all again, measured apart (later CONNECTs of a device)")
	fs.StringVar(&cfg.MQTT.Username, "mqtt-user", "", "connect every session as this broker user instead of its voucher (a baseline: a broker's static user)")
	fs.StringVar(&cfg.MQTT.Password, "mqtt-password", "", "the password of --mqtt-user")
	fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
	err := fs.Parse(args)
	if err != nil {
		return cfg, false, err
	}
	if fs.NArg() > 0 {
		return cfg, false, fmt.Errorf("bench takes no arguments, got %q", fs.Arg(0))
	}
	cfg.Mode = bench.Mode(mode)
	if cfg.Secret == "" {
		cfg.Secret = env("OTOS_TEMPLATE_SECRET")
	}
	if cfg.Secret == "" {
		fs.Usage()
		return cfg, false, errors.New("bench: --secret (or OTOS_TEMPLATE_SECRET) is required")
	}
	if cfg.Duration > 0 && !flagSet(fs, "devices") {
		cfg.Devices = 0 // --duration alone: run for the time, however many requests that is
	}
	if cfg.Concurrency <= 0 {
		return cfg, false, fmt.Errorf("bench: --concurrency %d: want at least 1", cfg.Concurrency)
	}
	if cfg.Timeout <= 0 || cfg.Timeout > time.Hour {
		return cfg, false, fmt.Errorf("bench: --timeout %s: want more than 0, up to an hour", cfg.Timeout)
	}
	if tlsCA != "" {
		if cfg.TLS, err = loadCA(tlsCA); err != nil {
			return cfg, false, err
		}
	}
	return cfg, asJSON, nil
}

// flagSet reports whether the flag name was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
