// Command otos is the One Type One Secret device-provisioning service and its
// command line: "otos serve" runs the server; the other subcommands call the
// admin API of a running server.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

const usage = `otos: One Type One Secret device provisioning.

Usage:
  otos serve [flags]                 run the server (embedded SQLite by default)
  otos template create|list|show|update|rotate-secret|allowlist add
  otos product create|list|show
  otos device list|show|disable|enable|reset|delete
  otos device connect [flags]        be a device: register once, keep the voucher, use MQTT
  otos service-account create|list|revoke
  otos tenant create|list|show
  otos token create|list|revoke
  otos audit list
  otos webhook create|list|show|delete|deliveries|resend
  otos events list|tail              replay and follow the lifecycle events
  otos bench --secret S [flags]      load-test a server: register N devices, optionally connect them over MQTT
  otos nats config [--data DIR] [--db DSN]   print the nats-server block that makes otos its authentication service
  otos emqx config URL [--data DIR] [--db DSN]   the same for EMQX, which reaches otos at URL
  otos migrate --from sqlite:PATH --to postgres://…   copy a SQLite deployment into PostgreSQL
  otos backup FILE [--data DIR]      a consistent copy of a running server's SQLite store
  otos restore FILE [--data DIR]     put a backup back, into the data directory of a stopped server
  otos doctor [serve flags]          check a configuration before serving, and say what to fix
  otos completion bash|zsh|fish      shell completion (source <(otos completion bash))
  otos version                       the version and the build's commit

Run "otos <command> -h" for the flags of a command.
`

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "otos:", err)
		os.Exit(1)
	}
}

// run dispatches a command line. env stands in for os.Getenv, so that tests
// control the environment.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) string) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return flag.ErrHelp
	}
	if args[0] == "admin" && len(args) > 1 {
		// "otos admin devices list" is "otos device list": the group, in
		// the singular or the plural, after an optional "admin".
		group := strings.TrimSuffix(args[1], "s")
		if _, ok := groups[group]; ok && args[1] != "events" {
			args = append([]string{group}, args[2:]...)
		} else if _, ok := groups[args[1]]; ok {
			args = args[1:]
		}
	}
	if args[0] == "device" && len(args) > 1 && args[1] == "connect" {
		return runConnect(ctx, args[2:], stdout, stderr, env)
	}
	switch args[0] {
	case "serve":
		m := NewMain()
		if err := m.ParseFlags(args[1:], stderr, env); err != nil {
			return err
		}
		return m.Serve(ctx)
	case "template", "product", "device", "service-account", "tenant", "token", "audit", "webhook", "events":
		return runAdmin(ctx, args[0], args[1:], stdout, stderr, env)
	case "bench":
		return runBench(ctx, args[1:], stdout, stderr, env)
	case "nats":
		return runNATS(ctx, args[1:], stdout, stderr, env)
	case "emqx":
		return runEMQX(ctx, args[1:], stdout, stderr, env)
	case "migrate":
		return runMigrate(ctx, args[1:], stdout, stderr)
	case "backup":
		return runBackup(ctx, args[1:], stdout, stderr, env)
	case "restore":
		return runRestore(ctx, args[1:], stdout, stderr, env)
	case "version":
		printVersion(stdout)
		return nil
	case "doctor":
		return runDoctor(ctx, args[1:], stdout, stderr, env)
	case "completion":
		return runCompletion(args[1:], stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", args[0])
	}
}
