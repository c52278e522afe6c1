package main

// "otos doctor": checks a configuration before serving and says what to
// fix; "otos version": the build; "otos completion": shell completion.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/otos-iot/otos/postgres"
	"github.com/otos-iot/otos/sqlite"
)

// check is one finding of the doctor: ok, or what is wrong and the fix.
type check struct {
	name     string
	problem  string
	fix      string
	warnOnly bool
}

// runDoctor runs "otos doctor [serve flags]": the configuration those flags
// and the environment give, checked as "otos serve" would use it, changing
// nothing. It fails when a check does.
func runDoctor(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) string) error {
	m := NewMain()
	if err := m.ParseFlags(args, stderr, env); err != nil {
		return err
	}
	checks := []check{m.checkStore(ctx)}
	for _, l := range []struct{ name, addr string }{{"http", m.Config.HTTP}, {"mqtt", m.Config.MQTT}, {"mqtt-tls", m.Config.MQTTTLS}} {
		checks = append(checks, checkPort(l.name, l.addr))
	}
	checks = append(checks, m.checkTLS(time.Now()), checkClock(time.Now()))
	failed := 0
	for _, c := range checks {
		switch {
		case c.problem == "":
			fmt.Fprintf(stdout, "ok    %s\n", c.name)
		case c.warnOnly:
			fmt.Fprintf(stdout, "warn  %s: %s\n      fix: %s\n", c.name, c.problem, c.fix)
		default:
			failed++
			fmt.Fprintf(stdout, "FAIL  %s: %s\n      fix: %s\n", c.name, c.problem, c.fix)
		}
	}
	if failed > 0 {
		return fmt.Errorf("doctor: %d check(s) failed", failed)
	}
	return nil
}

// checkStore: the store is reachable, its schema one this build knows, and
// (SQLite) the file whole; a store not created yet is fine.
func (m *Main) checkStore(ctx context.Context) check {
	c := check{name: "store"}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if isPostgres(m.Config.DB) {
		v, known, err := postgres.Inspect(ctx, m.Config.DB)
		switch {
		case err != nil:
			c.problem, c.fix = err.Error(), "start PostgreSQL, or correct --db (the DSN is not shown here)"
		case v > known:
			c.problem, c.fix = fmt.Sprintf("schema version %d is newer than this otos knows (%d)", v, known), "run a newer otos"
		case v < known:
			c.name = fmt.Sprintf("store: PostgreSQL at schema %d; otos serve migrates it to %d", v, known)
		default:
			c.name = fmt.Sprintf("store: PostgreSQL, schema %d", v)
		}
		return c
	}
	path := m.sqlitePath()
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		dir := filepath.Dir(path)
		for {
			if _, err := os.Stat(dir); err == nil || filepath.Dir(dir) == dir {
				break // otos serve creates what is missing below it
			}
			dir = filepath.Dir(dir)
		}
		if err := writable(dir); err != nil {
			c.problem, c.fix = err.Error(), "create the data directory, owned by the user that runs otos (mode 0700)"
			return c
		}
		c.name = "store: " + path + " does not exist yet; otos serve creates it"
		return c
	}
	info, err := sqlite.Inspect(ctx, path)
	switch {
	case err != nil && info.Version > info.Known && info.Known > 0:
		c.problem, c.fix = err.Error(), "run a newer otos"
	case err != nil:
		c.problem, c.fix = err.Error(), "restore the store from a backup (otos restore FILE), or point --data at the right directory"
	default:
		c.name = fmt.Sprintf("store: %s, schema %d (this otos: %d), %d devices", path, info.Version, info.Known, info.Devices)
		if err := writable(filepath.Dir(path)); err != nil {
			c.problem, c.fix = err.Error(), "make the data directory writable by the user that runs otos"
		}
	}
	return c
}

// writable reports whether dir exists and a file can be created in it.
func writable(dir string) error {
	f, err := os.CreateTemp(dir, ".otos-doctor-*")
	if err != nil {
		return fmt.Errorf("cannot write in %s: %w", dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// checkPort: addr ("" or off: not used) can be listened on.
func checkPort(name, addr string) check {
	c := check{name: name + " " + addr}
	if addr == "" || addr == "off" {
		c.name = name + ": off"
		return c
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		c.problem = err.Error()
		c.fix = "stop what listens on " + addr + " (ss -ltnp), or choose another address with --" + name
		return c
	}
	ln.Close()
	return c
}

// checkTLS: the TLS certificate and key are readable, belong together and
// are valid now.
func (m *Main) checkTLS(now time.Time) check {
	c := check{name: "tls"}
	cert, key := m.Config.TLSCert, m.Config.TLSKey
	switch {
	case cert == "" && key == "" && m.Config.MQTTTLS == "":
		c.name = "tls: not used"
		return c
	case cert == "" || key == "":
		c.problem, c.fix = "--mqtt-tls needs both --tls-cert and --tls-key", "give both files"
		return c
	}
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		c.problem = err.Error()
		c.fix = "check that both files are readable by otos, PEM, and that the key is the certificate's"
		return c
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		c.problem, c.fix = err.Error(), "use a PEM X.509 certificate"
		return c
	}
	switch {
	case now.After(leaf.NotAfter):
		c.problem, c.fix = "the certificate expired on "+leaf.NotAfter.UTC().Format(time.DateOnly), "renew it"
	case now.Before(leaf.NotBefore):
		c.problem, c.fix = "the certificate is not valid before "+leaf.NotBefore.UTC().Format(time.RFC3339), "check the clock, or the certificate"
	case leaf.NotAfter.Sub(now) < 14*24*time.Hour:
		c.problem, c.fix, c.warnOnly = "the certificate expires on "+leaf.NotAfter.UTC().Format(time.DateOnly), "renew it soon; otos serve reloads it on SIGHUP", true
	default:
		c.name = fmt.Sprintf("tls: %s, valid until %s", strings.Join(leaf.DNSNames, ","), leaf.NotAfter.UTC().Format(time.DateOnly))
	}
	return c
}

// checkClock: the clock is not obviously wrong. Signed requests allow five
// minutes of skew, and vouchers and tokens expire by it.
func checkClock(now time.Time) check {
	c := check{name: "clock " + now.UTC().Format(time.RFC3339)}
	built := buildTime()
	switch {
	case !built.IsZero() && now.Before(built.Add(-24*time.Hour)):
		c.problem = "the clock is before this otos was built (" + built.UTC().Format(time.DateOnly) + ")"
	case now.Year() < 2025 || now.Year() > 2100:
		c.problem = "the clock says " + now.UTC().Format(time.DateOnly)
	}
	if c.problem != "" {
		c.fix = "set the clock (NTP, e.g. systemd-timesyncd): signed requests, vouchers and tokens depend on it"
	}
	return c
}

// buildInfo returns the build's commit, its time and whether the tree was
// modified, as the go command recorded them.
func buildInfo() (commit string, at time.Time, dirty bool) {
	commit = buildCommit // set by the release script when the go command recorded nothing
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return commit, time.Time{}, false
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			commit = s.Value
		case "vcs.time":
			at, _ = time.Parse(time.RFC3339, s.Value)
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	return commit, at, dirty
}

// buildCommit is set at build time with -ldflags "-X main.buildCommit=…",
// for builds without the go command's VCS stamp (-buildvcs=false).
var buildCommit string

func buildTime() time.Time {
	_, at, _ := buildInfo()
	return at
}

// printVersion prints "otos <version> (commit <sha>[, modified], <time>, <go>)".
func printVersion(w io.Writer) {
	commit, at, dirty := buildInfo()
	var parts []string
	if commit != "" {
		c := "commit " + commit
		if dirty {
			c += ", modified"
		}
		parts = append(parts, c)
	}
	if !at.IsZero() {
		parts = append(parts, at.UTC().Format(time.RFC3339))
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		parts = append(parts, bi.GoVersion)
	}
	fmt.Fprintf(w, "otos %s (%s)\n", version, strings.Join(parts, ", "))
}

// topCommands are the commands besides the admin groups, for completion.
var topCommands = []string{"serve", "bench", "nats", "emqx", "migrate", "backup", "restore", "doctor", "version", "completion", "help", "admin"}

// runCompletion prints the completion script of a shell.
func runCompletion(args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return errors.New("completion takes one shell: bash, zsh or fish")
	}
	words := append([]string{}, topCommands...)
	subs := map[string][]string{}
	for g, cmds := range groups {
		words = append(words, g)
		for _, c := range cmds {
			subs[g] = append(subs[g], strings.Fields(c.name)[0])
		}
		if g == "device" {
			subs[g] = append(subs[g], "connect")
		}
	}
	subs["nats"], subs["emqx"] = []string{"config"}, []string{"config"}
	subs["completion"] = []string{"bash", "zsh", "fish"}
	sort.Strings(words)
	keys := make([]string, 0, len(subs))
	for k := range subs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	switch args[0] {
	case "bash":
		fmt.Fprintf(stdout, "# otos completion for bash: source <(otos completion bash)\n_otos() {\n  local cur=${COMP_WORDS[COMP_CWORD]}\n  if [ \"$COMP_CWORD\" -eq 1 ]; then COMPREPLY=($(compgen -W %q -- \"$cur\")); return; fi\n  case ${COMP_WORDS[1]} in\n", strings.Join(words, " "))
		for _, k := range keys {
			fmt.Fprintf(stdout, "    %s) [ \"$COMP_CWORD\" -eq 2 ] && COMPREPLY=($(compgen -W %q -- \"$cur\")) ;;\n", k, strings.Join(uniq(subs[k]), " "))
		}
		fmt.Fprint(stdout, "  esac\n}\ncomplete -o default -F _otos otos\n")
	case "zsh":
		fmt.Fprint(stdout, "#compdef otos\n# otos completion for zsh: otos completion zsh > \"${fpath[1]}/_otos\"\n_otos() {\n  if (( CURRENT == 2 )); then\n")
		fmt.Fprintf(stdout, "    compadd -- %s\n    return\n  fi\n  case $words[2] in\n", strings.Join(words, " "))
		for _, k := range keys {
			fmt.Fprintf(stdout, "    %s) (( CURRENT == 3 )) && compadd -- %s ;;\n", k, strings.Join(uniq(subs[k]), " "))
		}
		fmt.Fprint(stdout, "  esac\n}\ncompdef _otos otos\n")
	case "fish":
		fmt.Fprint(stdout, "# otos completion for fish: otos completion fish > ~/.config/fish/completions/otos.fish\ncomplete -c otos -f\n")
		fmt.Fprintf(stdout, "complete -c otos -n __fish_use_subcommand -a %q\n", strings.Join(words, " "))
		for _, k := range keys {
			fmt.Fprintf(stdout, "complete -c otos -n '__fish_seen_subcommand_from %s' -a %q\n", k, strings.Join(uniq(subs[k]), " "))
		}
	default:
		return fmt.Errorf("completion: unknown shell %q: want bash, zsh or fish", args[0])
	}
	return nil
}

func uniq(ss []string) []string {
	sort.Strings(ss)
	out := ss[:0]
	for i, s := range ss {
		if i == 0 || s != ss[i-1] {
			out = append(out, s)
		}
	}
	return out
}
