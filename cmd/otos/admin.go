package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	otoshttp "github.com/otos-iot/otos/http"
)

// Where the admin commands find the server and the token when neither a flag
// nor the environment says.
const (
	defaultServer  = "http://127.0.0.1:8080"
	defaultDataDir = "./otos-data"
	tokenFile      = "admin.token"
)

// command is one admin subcommand, e.g. "device show".
type command struct {
	name string
	args string // "ID" when the command takes one, "" when none
	help string
	// setup defines the command's own flags on fs and returns what runs once
	// they are parsed.
	setup func(fs *flag.FlagSet) action
}

// action runs a parsed command; id is its positional argument, if it takes one.
type action func(ctx context.Context, c *cli, id string) error

// groups are the admin command groups and their subcommands, in usage order.
var groups = map[string][]command{
	"template":        templateCommands,
	"product":         productCommands,
	"device":          deviceCommands,
	"service-account": serviceAccountCommands,
	"tenant":          tenantCommands,
	"token":           tokenCommands,
	"audit":           auditCommands,
	"webhook":         webhookCommands,
	"events":          eventCommands,
}

// usageError is a mistake on the command line; runAdmin prints the command's
// usage with it.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// runAdmin runs "otos <group> <subcommand> [flags] [ID]" against the admin API.
// env stands in for os.Getenv.
func runAdmin(ctx context.Context, group string, args []string, stdout, stderr io.Writer, env func(string) string) error {
	cmds := groups[group]
	if len(args) == 0 || isHelp(args[0]) {
		groupUsage(stderr, group, cmds)
		if len(args) == 0 {
			return fmt.Errorf("%s: missing subcommand", group)
		}
		return flag.ErrHelp
	}
	for _, cmd := range cmds {
		if n := matches(cmd.name, args); n > 0 {
			return cmd.run(ctx, group, args[n:], stdout, stderr, env)
		}
	}
	groupUsage(stderr, group, cmds)
	return fmt.Errorf("%s: unknown subcommand %q", group, args[0])
}

// matches returns how many leading args name the command ("list", or
// "allowlist add"), or 0 when they do not.
func matches(name string, args []string) int {
	words := strings.Fields(name)
	if len(args) < len(words) {
		return 0
	}
	for i, w := range words {
		if args[i] != w {
			return 0
		}
	}
	return len(words)
}

func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help" || arg == "help"
}

func groupUsage(w io.Writer, group string, cmds []command) {
	fmt.Fprintf(w, "Usage: otos %s <subcommand> [flags]\n\nSubcommands:\n", group)
	for _, cmd := range cmds {
		fmt.Fprintf(w, "  %-28s %s\n", strings.TrimSpace(cmd.name+" "+cmd.args), cmd.help)
	}
	if group == "device" { // served by connect.go, not the admin API
		fmt.Fprintf(w, "  %-28s %s\n", "connect [flags]", "Be a device: register once, keep the voucher, connect over MQTT")
	}
	fmt.Fprintf(w, "\nRun \"otos %s <subcommand> -h\" for its flags.\n", group)
}

// run parses the command's flags, which may come before or after its ID,
// connects to the server and runs the action.
func (cmd command) run(ctx context.Context, group string, args []string, stdout, stderr io.Writer, env func(string) string) error {
	fs, g, act := cmd.flags("otos "+group+" "+cmd.name, stderr)
	err := func() error {
		id, err := cmd.parse(fs, args)
		if err != nil {
			return err
		}
		c, err := g.cli(stdout, env)
		if err != nil {
			return err
		}
		return act(ctx, c, id)
	}()
	var ue *usageError
	if errors.As(err, &ue) {
		fs.Usage()
		return fmt.Errorf("%s %s: %w", group, cmd.name, err)
	}
	return err
}

// flags returns the command's flag set, with its own flags listed before the
// global ones in its usage.
func (cmd command) flags(name string, stderr io.Writer) (*flag.FlagSet, *globalFlags, action) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	act := cmd.setup(fs)
	own := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) { own[f.Name] = true })
	g := &globalFlags{}
	g.define(fs)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s\n\n%s.\n", strings.TrimSpace(name+" [flags] "+cmd.args), cmd.help)
		if len(own) > 0 {
			fmt.Fprintln(stderr, "\nFlags:")
			printFlags(fs, func(name string) bool { return own[name] })
		}
		fmt.Fprintln(stderr, "\nGlobal flags:")
		printFlags(fs, func(name string) bool { return !own[name] })
	}
	return fs, g, act
}

// parse parses args and returns the command's ID, if it takes one.
func (cmd command) parse(fs *flag.FlagSet, args []string) (string, error) {
	pos, err := parseInterspersed(fs, args)
	switch {
	case err != nil:
		return "", err
	case cmd.args != "" && len(pos) == 0:
		return "", usagef("missing %s", cmd.args)
	case cmd.args == "" && len(pos) > 0, len(pos) > 1:
		return "", usagef("unexpected argument %q", pos[len(pos)-1])
	case len(pos) == 1:
		return pos[0], nil
	}
	return "", nil
}

// parseInterspersed parses flags wherever they are among the arguments and
// returns the others in order. Everything after "--" is an argument.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

// globalFlags are the flags of every admin command.
type globalFlags struct {
	server, token string
	json          bool
}

func (g *globalFlags) define(fs *flag.FlagSet) {
	// No defaults from the environment here: -h would print the token.
	fs.StringVar(&g.server, "server", "", "server `URL` (env OTOS_SERVER, default "+defaultServer+")")
	fs.StringVar(&g.token, "token", "", "admin `TOKEN` (env OTOS_TOKEN, default the file $OTOS_DATA/"+tokenFile+
		" or "+defaultDataDir+"/"+tokenFile+"); prefer the variable, a flag shows in ps")
	fs.BoolVar(&g.json, "json", false, "print the API's JSON answer, for scripts")
}

// cli returns what an action needs: a client for the resolved server and
// token, and where to print.
func (g *globalFlags) cli(stdout io.Writer, env func(string) string) (*cli, error) {
	server, err := resolveServer(g.server, env)
	if err != nil {
		return nil, err
	}
	token, err := resolveToken(g.token, env)
	if err != nil {
		return nil, err
	}
	api := &otoshttp.Client{BaseURL: server, Token: token, HTTP: &http.Client{Timeout: 30 * time.Second}}
	return &cli{api: api, json: g.json, out: stdout}, nil
}

// resolveServer picks the server URL: flag, then OTOS_SERVER, then the
// default. A bare host:port means http.
func resolveServer(flagValue string, env func(string) string) (string, error) {
	s := firstNonEmpty(flagValue, env("OTOS_SERVER"), defaultServer)
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("server %q is not an http:// or https:// URL", s)
	}
	return strings.TrimRight(s, "/"), nil
}

// resolveToken picks the admin token: flag, then OTOS_TOKEN, then the token
// file in $OTOS_DATA or, without it, in ./otos-data.
func resolveToken(flagValue string, env func(string) string) (string, error) {
	if t := firstNonEmpty(flagValue, env("OTOS_TOKEN")); t != "" {
		return t, nil
	}
	path := filepath.Join(firstNonEmpty(env("OTOS_DATA"), defaultDataDir), tokenFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("no admin token: pass --token, set OTOS_TOKEN, or set OTOS_DATA to the server's data directory (%w)", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("no admin token: %s is empty", path)
	}
	return t, nil
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

// fieldFlag is a string flag that becomes an API field (in a body or a query)
// when it is given on the command line.
type fieldFlag struct {
	name, field, usage string
}

// defineFields defines flags and returns a function that collects, after
// parsing, the API fields of those that were given.
func defineFields(fs *flag.FlagSet, flags ...fieldFlag) func() map[string]string {
	fields := make(map[string]string, len(flags))
	for _, f := range flags {
		fs.String(f.name, "", f.usage)
		fields[f.name] = f.field
	}
	return func() map[string]string {
		given := map[string]string{}
		fs.Visit(func(f *flag.Flag) {
			if field, ok := fields[f.Name]; ok {
				given[field] = f.Value.String()
			}
		})
		return given
	}
}

// printFlags prints the defaults of the flags of fs that keep selects.
func printFlags(fs *flag.FlagSet, keep func(name string) bool) {
	sub := flag.NewFlagSet(fs.Name(), flag.ContinueOnError)
	sub.SetOutput(fs.Output())
	fs.VisitAll(func(f *flag.Flag) {
		if keep(f.Name) {
			sub.Var(f.Value, f.Name, f.Usage)
			sub.Lookup(f.Name).DefValue = f.DefValue // not what was parsed before -h
		}
	})
	sub.PrintDefaults()
}

// given returns the names of the flags set on the command line.
func given(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// required is a usage error naming the first of names not given.
func required(fs *flag.FlagSet, names ...string) error {
	set := given(fs)
	for _, n := range names {
		if !set[n] {
			return usagef("--%s is required", n)
		}
	}
	return nil
}

// query turns given fields into a query string.
func query(fields map[string]string) url.Values {
	q := url.Values{}
	for k, v := range fields {
		q.Set(k, v)
	}
	return q
}
