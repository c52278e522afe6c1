package main

// The packaging files (Dockerfile, deploy/compose.yaml,
// deploy/systemd/otos.service, scripts/release.sh) are checked here against
// each other and against the code, so that none drifts: the image runs the
// release script's build, its ports and data directory are the server's, the
// unit passes systemd-analyze where it is installed. The release builds
// themselves (three cross builds, minutes on a cold cache) and a docker build
// run only with OTOS_RELEASE_TEST=1:
//
//	OTOS_RELEASE_TEST=1 go test -count=1 -timeout 30m -run Packaging ./cmd/otos

import (
	"bufio"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// packRoot is the repository root, seen from cmd/otos where tests run.
const packRoot = "../.."

// packTargets are the release platforms: docker's name, the file suffix and
// the ELF machine of the binaries.
var packTargets = []struct {
	platform, suffix, goarch string
	machine                  elf.Machine
}{
	{"linux/amd64", "linux-amd64", "amd64", elf.EM_X86_64},
	{"linux/arm64", "linux-arm64", "arm64", elf.EM_AARCH64},
	{"linux/arm/v7", "linux-armv7", "arm", elf.EM_ARM},
}

// The -X flags of the release build set these; they must stay string
// variables of package main or the linker drops the flags silently.
var _, _ string = version, buildCommit

func packRead(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(packRoot, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// packLines joins backslash continuations and drops comment and blank
// lines, as Docker reads a Dockerfile (and as the shell reads the release
// script, which has no comment inside a continuation), numbering each
// logical line by its first physical one.
func packLines(src string) (lines []string, at []int) {
	var cur strings.Builder
	start := 0
	for i, raw := range strings.Split(src, "\n") {
		s := strings.TrimSpace(raw)
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if body, ok := strings.CutSuffix(s, `\`); ok {
			cur.WriteString(strings.TrimSpace(body) + " ")
			continue
		}
		cur.WriteString(s)
		lines, at = append(lines, cur.String()), append(at, start)
		cur.Reset()
	}
	return lines, at
}

// packBuild is what a go build command line says about the binary.
type packBuild struct {
	static, trimpath bool
	ldflags          string
}

var packLdflags = regexp.MustCompile(`-ldflags[ =]"([^"]*)"`)

func packBuildOf(cmd string) packBuild {
	b := packBuild{static: strings.Contains(cmd, "CGO_ENABLED=0"), trimpath: strings.Contains(cmd, "-trimpath")}
	if m := packLdflags.FindStringSubmatch(cmd); m != nil {
		b.ldflags = m[1]
	}
	return b
}

// packReleaseBuild returns the one go build command of the release script.
func packReleaseBuild(t *testing.T) packBuild {
	t.Helper()
	lines, _ := packLines(packRead(t, "scripts/release.sh"))
	var builds []string
	for _, l := range lines {
		if strings.Contains(l, "go build") {
			builds = append(builds, l)
		}
	}
	if len(builds) != 1 {
		t.Fatalf("scripts/release.sh: want one go build command, found %d: %q", len(builds), builds)
	}
	return packBuildOf(builds[0])
}

func TestPackagingReleaseScript(t *testing.T) {
	script := packRead(t, "scripts/release.sh")
	if out, err := exec.Command("bash", "-n", filepath.Join(packRoot, "scripts/release.sh")).CombinedOutput(); err != nil {
		t.Fatalf("bash -n scripts/release.sh: %v\n%s", err, out)
	}
	if fi, err := os.Stat(filepath.Join(packRoot, "scripts/release.sh")); err != nil || fi.Mode()&0o111 == 0 {
		t.Errorf("scripts/release.sh is not executable: %v", err)
	}
	var platforms []string
	for _, tg := range packTargets {
		platforms = append(platforms, tg.platform)
	}
	if want := `TARGETS=${TARGETS:-` + strings.Join(platforms, " ") + `}`; !strings.Contains(script, want) {
		t.Errorf("scripts/release.sh: default targets are not %s", want)
	}
	b := packReleaseBuild(t)
	if !b.static || !b.trimpath {
		t.Errorf("release build: static %v, trimpath %v; want both", b.static, b.trimpath)
	}
	if want := "-s -w -X main.version=$VERSION -X main.buildCommit=$COMMIT"; b.ldflags != want {
		t.Errorf("release build: -ldflags %q, want %q", b.ldflags, want)
	}
	for _, want := range []string{"for cmd in otos otos-healthcheck", `"./cmd/$cmd"`, "git describe --tags --always", "SHA256SUMS", "DIST=${DIST:-dist}"} {
		if !strings.Contains(script, want) {
			t.Errorf("scripts/release.sh lacks %q", want)
		}
	}

	if testing.Short() || os.Getenv("OTOS_RELEASE_TEST") != "1" {
		t.Skip("the release builds: set OTOS_RELEASE_TEST=1 (three cross builds, minutes on a cold cache)")
	}
	packRelease(t)
}

// packRelease runs the release script for every target and checks what it
// leaves: static, stripped binaries for the right machine, SHA256SUMS that
// matches them, a host binary that prints its version and commit.
func packRelease(t *testing.T) {
	dist := t.TempDir()
	const ver = "v0.0.0-packaging"
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "scripts/release.sh", ver)
	cmd.Dir = packRoot
	cmd.Env = append(packEnv("DIST", "TARGETS", "COMMIT"), "DIST="+dist)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/release.sh: %v\n%s", err, out)
	}
	t.Logf("scripts/release.sh in %v:\n%s", time.Since(start).Round(time.Second), out)

	commit := "unknown"
	git := exec.Command("git", "rev-parse", "HEAD")
	git.Dir = packRoot
	if b, err := git.Output(); err == nil {
		commit = strings.TrimSpace(string(b))
	}

	var names []string
	for _, tg := range packTargets {
		for _, c := range []string{"otos", "otos-healthcheck"} {
			name := c + "-" + ver + "-" + tg.suffix
			names = append(names, name)
			if !strings.Contains(string(out), name) {
				t.Errorf("the script did not print %s", name)
			}
			packCheckELF(t, filepath.Join(dist, name), tg.machine)
		}
		if runtime.GOOS != "linux" || runtime.GOARCH != tg.goarch {
			continue
		}
		bin := filepath.Join(dist, "otos-"+ver+"-"+tg.suffix)
		got, err := exec.Command(bin, "version").CombinedOutput()
		if err != nil {
			t.Fatalf("%s version: %v\n%s", bin, err, got)
		}
		if s := string(got); !strings.HasPrefix(s, "otos "+ver+" (") || !strings.Contains(s, "commit "+commit) {
			t.Errorf("otos version: %q, want version %s and commit %s", s, ver, commit)
		}
		packCheckHealthcheck(t, filepath.Join(dist, "otos-healthcheck-"+ver+"-"+tg.suffix))
	}

	sums, err := os.ReadFile(filepath.Join(dist, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, line := range strings.Split(strings.TrimSpace(string(sums)), "\n") {
		sum, name, ok := strings.Cut(line, "  ")
		if !ok {
			t.Fatalf("SHA256SUMS: %q is not \"sum  name\"", line)
		}
		listed = append(listed, name)
		b, err := os.ReadFile(filepath.Join(dist, name))
		if err != nil {
			t.Errorf("SHA256SUMS names %s: %v", name, err)
			continue
		}
		if h := sha256.Sum256(b); hex.EncodeToString(h[:]) != sum {
			t.Errorf("SHA256SUMS: %s does not match the file", name)
		}
	}
	slices.Sort(listed)
	slices.Sort(names)
	if !slices.Equal(listed, names) {
		t.Errorf("SHA256SUMS lists %q, want %q", listed, names)
	}
}

// packCheckELF checks that a binary is for machine, static (no interpreter,
// no dynamic section) and stripped (-s: no symbol table).
func packCheckELF(t *testing.T, path string, machine elf.Machine) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Errorf("%s: %v", filepath.Base(path), err)
		return
	}
	defer f.Close()
	if f.Machine != machine {
		t.Errorf("%s: machine %v, want %v", filepath.Base(path), f.Machine, machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("%s: not static (%v)", filepath.Base(path), p.Type)
		}
	}
	if f.Section(".symtab") != nil {
		t.Errorf("%s: not stripped", filepath.Base(path))
	}
}

// packEnv is the environment without the named variables.
func packEnv(drop ...string) []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return slices.Contains(drop, k)
	})
}

func TestPackagingHealthcheck(t *testing.T) {
	if testing.Short() {
		t.Skip("builds otos-healthcheck")
	}
	bin := filepath.Join(t.TempDir(), "otos-healthcheck")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/otos-iot/otos/cmd/otos-healthcheck").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	packCheckHealthcheck(t, bin)

	// Without OTOS_HTTP the helper asks :8080, the port otos serves by default.
	src := packRead(t, "cmd/otos-healthcheck/main.go")
	_, port, _ := net.SplitHostPort(NewMain().Config.HTTP)
	if !strings.Contains(src, `host, port := "127.0.0.1", "`+port+`"`) {
		t.Errorf("otos-healthcheck's default port is not otos serve's (%s)", port)
	}
}

// packCheckHealthcheck runs an otos-healthcheck binary against servers that
// are ready, not ready and absent.
func packCheckHealthcheck(t *testing.T, bin string) {
	t.Helper()
	serve := func(status int) (*httptest.Server, *[]string) {
		var paths []string
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			paths = append(paths, r.URL.Path)
			w.WriteHeader(status)
		}))
		t.Cleanup(srv.Close)
		return srv, &paths
	}
	ready, readyPaths := serve(http.StatusOK)
	busy, _ := serve(http.StatusServiceUnavailable)
	_, readyPort, _ := net.SplitHostPort(strings.TrimPrefix(ready.URL, "http://"))
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()

	for _, tc := range []struct {
		name string
		env  []string
		ok   bool
	}{
		{"ok/url", []string{"OTOS_HEALTH_URL=" + ready.URL + "/readyz"}, true},
		{"ok/from-otos-http", []string{"OTOS_HTTP=:" + readyPort}, true},
		{"ok/from-otos-http-any-address", []string{"OTOS_HTTP=0.0.0.0:" + readyPort}, true},
		{"fail/not-ready", []string{"OTOS_HEALTH_URL=" + busy.URL + "/readyz"}, false},
		{"fail/nothing-listening", []string{"OTOS_HEALTH_URL=" + gone.URL + "/readyz"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(bin)
			cmd.Env = append(packEnv("OTOS_HEALTH_URL", "OTOS_HTTP"), tc.env...)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			switch {
			case tc.ok && err != nil:
				t.Errorf("exit %v, want 0: %s", err, out)
			case !tc.ok && !(errors.As(err, &exit) && exit.ExitCode() == 1):
				t.Errorf("exit %v, want 1: %s", err, out)
			case !tc.ok && len(out) == 0:
				t.Error("failed without saying why")
			}
		})
	}
	for _, p := range *readyPaths {
		if p != "/readyz" {
			t.Errorf("asked %s, want /readyz", p)
		}
	}
}

// packInstr is one Dockerfile instruction.
type packInstr struct {
	line      int
	op, args  string
	stage     int // 0 for the first FROM's stage
	stageName string
}

func packDockerfile(t *testing.T) []packInstr {
	t.Helper()
	lines, at := packLines(packRead(t, "Dockerfile"))
	var out []packInstr
	stage, name := -1, ""
	for i, l := range lines {
		op, args, _ := strings.Cut(l, " ")
		op = strings.ToUpper(op)
		if op == "FROM" {
			stage++
			name = ""
			if f := strings.Fields(args); len(f) >= 3 && strings.EqualFold(f[len(f)-2], "AS") {
				name = f[len(f)-1]
			}
		}
		if stage < 0 && op != "ARG" {
			t.Fatalf("Dockerfile:%d: %s before FROM", at[i], op)
		}
		out = append(out, packInstr{line: at[i], op: op, args: strings.TrimSpace(args), stage: stage, stageName: name})
	}
	return out
}

// packImage is the image a FROM names, past its flags.
func packImage(args string) string {
	for _, f := range strings.Fields(args) {
		if !strings.HasPrefix(f, "--") {
			return f
		}
	}
	return ""
}

// packExec reads an exec-form (JSON array) argument list.
func packExec(t *testing.T, in packInstr) []string {
	t.Helper()
	var v []string
	if err := json.Unmarshal([]byte(in.args), &v); err != nil {
		t.Errorf("Dockerfile:%d: %s %s is not the exec form: %v", in.line, in.op, in.args, err)
	}
	return v
}

func TestPackagingDockerfile(t *testing.T) {
	ins := packDockerfile(t)
	last := ins[len(ins)-1].stage
	if last < 1 {
		t.Fatal("Dockerfile: not a multi-stage build")
	}
	var final []packInstr
	stages := map[string]int{}
	for _, in := range ins {
		if in.op == "FROM" {
			img := packImage(in.args)
			if in.stage == 0 && !strings.HasPrefix(img, "golang:1.26") {
				t.Errorf("Dockerfile:%d: the builder is %s, want golang:1.26", in.line, img)
			}
			if in.stage == last && img != "scratch" && !strings.HasPrefix(img, "gcr.io/distroless/static") {
				t.Errorf("Dockerfile:%d: the runtime image is %s, want distroless static or scratch", in.line, img)
			}
			stages[in.stageName] = in.stage
		}
		if in.stage == last {
			final = append(final, in)
		}
	}

	// The builder runs the release script, for the image's platform; any
	// go build of its own must use the script's flags.
	release := packReleaseBuild(t)
	var runsScript bool
	for _, in := range ins {
		if in.op != "RUN" || in.stage == last {
			continue
		}
		if strings.Contains(in.args, "scripts/release.sh") {
			runsScript = true
			if !strings.Contains(in.args, `TARGETS="$TARGETPLATFORM"`) {
				t.Errorf("Dockerfile:%d: the release script does not build for $TARGETPLATFORM", in.line)
			}
		}
		if strings.Contains(in.args, "go build") {
			if b := packBuildOf(in.args); b != release {
				t.Errorf("Dockerfile:%d: go build %+v, the release script's is %+v", in.line, b, release)
			}
		}
	}
	if !runsScript {
		t.Error("Dockerfile: no RUN of scripts/release.sh in the build stages")
	}

	// What the runtime stage holds, where: COPY sources and destinations.
	files := map[string]string{} // path in the image -> --chown
	var user, data string
	var volumes, exposed []string
	var entry, cmd, health []string
	for _, in := range final {
		f := strings.Fields(in.args)
		switch in.op {
		case "COPY":
			var chown, from string
			var paths []string
			for _, a := range f {
				switch {
				case strings.HasPrefix(a, "--chown="):
					chown = strings.TrimPrefix(a, "--chown=")
				case strings.HasPrefix(a, "--from="):
					from = strings.TrimPrefix(a, "--from=")
				case !strings.HasPrefix(a, "--"):
					paths = append(paths, a)
				}
			}
			if _, ok := stages[from]; from != "" && !ok {
				t.Errorf("Dockerfile:%d: COPY --from=%s names no stage", in.line, from)
			}
			if len(paths) < 2 {
				t.Errorf("Dockerfile:%d: COPY %s", in.line, in.args)
				continue
			}
			dst := paths[len(paths)-1]
			for _, src := range paths[:len(paths)-1] {
				p := dst
				if strings.HasSuffix(dst, "/") {
					p = dst + filepath.Base(src)
				}
				files[p] = chown
			}
		case "USER":
			user = in.args
		case "ENV":
			for _, kv := range f {
				if v, ok := strings.CutPrefix(kv, "OTOS_DATA="); ok {
					data = v
				}
			}
		case "VOLUME":
			if strings.HasPrefix(in.args, "[") {
				volumes = append(volumes, packExec(t, in)...)
			} else {
				volumes = append(volumes, f...)
			}
		case "EXPOSE":
			for _, p := range f {
				exposed = append(exposed, strings.TrimSuffix(p, "/tcp"))
			}
		case "ENTRYPOINT":
			entry = packExec(t, in)
		case "CMD":
			cmd = packExec(t, in)
		case "HEALTHCHECK":
			_, execForm, ok := strings.Cut(in.args, "CMD ")
			if !ok {
				t.Errorf("Dockerfile:%d: HEALTHCHECK without CMD", in.line)
				continue
			}
			health = packExec(t, packInstr{line: in.line, op: "HEALTHCHECK CMD", args: strings.TrimSpace(execForm)})
		}
	}

	uid, _, _ := strings.Cut(user, ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		t.Errorf("Dockerfile: USER %q, want a numeric user other than root", user)
	}
	if data == "" || !slices.Contains(volumes, data) {
		t.Errorf("Dockerfile: OTOS_DATA %q, VOLUME %q: want the data directory as the volume", data, volumes)
	}
	if chown, ok := files[data]; !ok || chown != user {
		t.Errorf("Dockerfile: the data directory %s is not copied in owned by %s (got %q)", data, user, chown)
	}
	m := NewMain().Config
	for _, addr := range []string{m.HTTP, m.MQTT} {
		if _, port, _ := net.SplitHostPort(addr); !slices.Contains(exposed, port) {
			t.Errorf("Dockerfile: EXPOSE %q lacks %s, a port otos serves by default", exposed, port)
		}
	}
	if len(entry) != 1 || filepath.Base(entry[0]) != "otos" {
		t.Errorf("Dockerfile: ENTRYPOINT %q, want otos", entry)
	}
	if !slices.Equal(cmd, []string{"serve"}) {
		t.Errorf("Dockerfile: CMD %q, want [serve]", cmd)
	}
	if len(health) == 0 || filepath.Base(health[0]) != "otos-healthcheck" {
		t.Errorf("Dockerfile: HEALTHCHECK %q, want otos-healthcheck (the readiness check)", health)
	}
	for _, p := range append(entry[:min(len(entry), 1)], health[:min(len(health), 1)]...) {
		if _, ok := files[p]; !ok {
			t.Errorf("Dockerfile: %s is not copied into the runtime image", p)
		}
	}

	ignore := strings.Fields(packRead(t, ".dockerignore"))
	if !slices.Contains(ignore, ".git") {
		t.Error(".dockerignore: .git is sent to the builder")
	}
	for _, need := range []string{"go.mod", "go.sum", "scripts", "cmd", "*.go", "**/*.go", "Dockerfile"} {
		if slices.Contains(ignore, need) {
			t.Errorf(".dockerignore leaves out %s, which the build needs", need)
		}
	}

	packDockerBuild(t)
}

// packDockerBuild builds the image and waits for it to report healthy, where
// a docker daemon answers and OTOS_RELEASE_TEST=1.
func packDockerBuild(t *testing.T) {
	if _, err := exec.LookPath("docker"); err != nil {
		t.Log("docker is not installed: the Dockerfile is checked, not built")
		return
	}
	if out, err := exec.Command("docker", "info").CombinedOutput(); err != nil {
		t.Logf("docker is installed but no daemon answers: the Dockerfile is checked, not built (%s)", packLastLine(out))
		return
	}
	if testing.Short() || os.Getenv("OTOS_RELEASE_TEST") != "1" {
		t.Log("docker answers: set OTOS_RELEASE_TEST=1 to build the image")
		return
	}
	const tag = "otos:packaging-test"
	docker := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("docker", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	docker("build", "-t", tag, "--build-arg", "VERSION=v0.0.0-image", "--build-arg", "COMMIT=0123abcd", packRoot)
	t.Cleanup(func() { _ = exec.Command("docker", "rmi", "-f", tag).Run() })
	if v := docker("run", "--rm", tag, "version"); !strings.Contains(v, "otos v0.0.0-image") || !strings.Contains(v, "commit 0123abcd") {
		t.Errorf("docker run %s version: %q", tag, v)
	}
	id := docker("run", "-d", tag)
	t.Cleanup(func() { _ = exec.Command("docker", "rm", "-f", "-v", id).Run() })
	deadline := time.Now().Add(2 * time.Minute)
	for {
		status := docker("inspect", "-f", "{{.State.Health.Status}}", id)
		if status == "healthy" {
			return
		}
		if status == "unhealthy" || time.Now().After(deadline) {
			logs, _ := exec.Command("docker", "logs", id).CombinedOutput()
			t.Fatalf("the container is %s:\n%s", status, logs)
		}
		time.Sleep(2 * time.Second)
	}
}

func packLastLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	return s[strings.LastIndex(s, "\n")+1:]
}

// packUnit reads a systemd unit: section -> key -> values, in order.
func packUnit(src string) map[string]map[string][]string {
	out := map[string]map[string][]string{}
	var sec string
	sc := bufio.NewScanner(strings.NewReader(src))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		switch {
		case l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, ";"):
		case strings.HasPrefix(l, "[") && strings.HasSuffix(l, "]"):
			sec = strings.Trim(l, "[]")
			out[sec] = map[string][]string{}
		default:
			k, v, _ := strings.Cut(l, "=")
			if out[sec] == nil {
				out[sec] = map[string][]string{}
			}
			out[sec][strings.TrimSpace(k)] = append(out[sec][strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	return out
}

func TestPackagingSystemdUnit(t *testing.T) {
	const path = "deploy/systemd/otos.service"
	src := packRead(t, path)
	svc := packUnit(src)["Service"]
	if svc == nil {
		t.Fatalf("%s: no [Service] section", path)
	}
	for _, want := range []struct{ key, value string }{
		{"Type", "simple"},
		{"ExecStart", "/usr/local/bin/otos serve"},
		{"ExecReload", "/bin/kill -HUP $MAINPID"},
		{"Restart", "on-failure"},
		{"DynamicUser", "yes"},
		{"StateDirectory", "otos"},
		{"Environment", "OTOS_DATA=/var/lib/otos"},
		{"ProtectSystem", "strict"},
		{"ProtectHome", "yes"},
		{"PrivateTmp", "yes"},
		{"NoNewPrivileges", "yes"},
		{"CapabilityBoundingSet", ""},
		{"AmbientCapabilities", ""},
		{"RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"},
		{"SystemCallFilter", "@system-service"},
		{"LockPersonality", "yes"},
		{"MemoryDenyWriteExecute", "yes"},
	} {
		if !slices.Contains(svc[want.key], want.value) {
			t.Errorf("%s: %s=%s missing (have %q)", path, want.key, want.value, svc[want.key])
		}
	}
	// A capability granted anywhere would undo the empty bounding set.
	for _, k := range []string{"CapabilityBoundingSet", "AmbientCapabilities"} {
		if vs := svc[k]; len(vs) != 1 {
			t.Errorf("%s: %s set %d times: %q", path, k, len(vs), vs)
		}
	}

	// ExecReload sends SIGHUP: the server must catch it, or a reload would
	// stop the service (systemd counts SIGHUP as a clean exit: no restart).
	srcs, _ := filepath.Glob("*.go")
	var hup bool
	for _, f := range srcs {
		if b, err := os.ReadFile(f); err == nil && !strings.HasSuffix(f, "_test.go") && strings.Contains(string(b), "syscall.SIGHUP") {
			hup = true
		}
	}
	if !hup {
		t.Error("ExecReload sends SIGHUP, which no code of otos serve catches")
	}

	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Log("systemd-analyze is not installed: the directives are checked, not verified")
		return
	}
	// verify wants ExecStart's binary to exist: any executable stands in.
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	unit := strings.ReplaceAll(src, "/usr/local/bin/otos", exe)
	if _, err := os.Stat("/bin/kill"); err != nil {
		unit = strings.ReplaceAll(unit, "/bin/kill", exe)
	}
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	verify := func(p string) (string, error) {
		out, err := exec.Command("systemd-analyze", "verify", p).CombinedOutput()
		var mine []string // lines about other units of this host are not ours
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if strings.Contains(l, filepath.Base(p)) || strings.Contains(l, dir) {
				mine = append(mine, l)
			}
		}
		return strings.Join(mine, "\n"), err
	}
	if out, err := verify(write("otos.service", unit)); err != nil || out != "" {
		t.Errorf("systemd-analyze verify %s: %v\n%s", path, err, out)
	}
	// The check has teeth: a misspelt directive is reported.
	if out, _ := verify(write("otos-misspelt.service", strings.Replace(unit, "ProtectSystem=", "ProtectSystm=", 1))); out == "" {
		t.Error("systemd-analyze verify did not report a misspelt directive: the check above proves nothing")
	}
	// Exposure score, 0 (locked down) to 10; --threshold is in tenths.
	out, err := exec.Command("systemd-analyze", "security", "--offline=true", "--threshold=20", filepath.Join(dir, "otos.service")).CombinedOutput()
	switch s := string(out); {
	case strings.Contains(s, "unrecognized option") || strings.Contains(s, "Unknown option"):
		t.Logf("systemd-analyze security --offline is not supported here: %s", packLastLine(out))
	case err != nil:
		t.Errorf("systemd-analyze security: exposure above 2.0 (%v):\n%s", err, s)
	default:
		if i := strings.Index(s, "Overall exposure level"); i >= 0 {
			line, _, _ := strings.Cut(s[i:], "\n")
			t.Log(line)
		}
	}
}

// packYAML reads the block mappings and sequences of a compose file by
// lines: "services.otos.environment.OTOS_DB" -> its value; a key without a
// value is present with none; a sequence item adds to its key's values.
// Flow collections stay strings ("[a, b]"), which the checks match by text.
func packYAML(t *testing.T, src string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	type key struct {
		indent int
		name   string
	}
	var stack []key
	path := func() string {
		var p []string
		for _, k := range stack {
			p = append(p, k.name)
		}
		return strings.Join(p, ".")
	}
	unquote := func(s string) string {
		if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
			return s[1 : len(s)-1]
		}
		return s
	}
	for i, raw := range strings.Split(src, "\n") {
		text := strings.TrimLeft(raw, " ")
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		if strings.HasPrefix(text, "\t") {
			t.Fatalf("compose.yaml:%d: tab in the indentation", i+1)
		}
		indent := len(raw) - len(text)
		for len(stack) > 0 && stack[len(stack)-1].indent >= indent {
			stack = stack[:len(stack)-1]
		}
		if item, ok := strings.CutPrefix(text, "- "); ok {
			out[path()] = append(out[path()], unquote(strings.TrimSpace(item)))
			continue
		}
		k, v, ok := strings.Cut(text, ":")
		if !ok || (v != "" && v[0] != ' ') {
			t.Fatalf("compose.yaml:%d: %q is not key: value", i+1, text)
		}
		stack = append(stack, key{indent, unquote(k)})
		if v = strings.TrimSpace(v); v != "" {
			out[path()] = append(out[path()], unquote(v))
		} else if _, ok := out[path()]; !ok {
			out[path()] = nil
		}
	}
	return out
}

func TestPackagingCompose(t *testing.T) {
	y := packYAML(t, packRead(t, "deploy/compose.yaml"))
	one := func(p string) string {
		t.Helper()
		if v := y[p]; len(v) == 1 {
			return v[0]
		}
		t.Errorf("compose.yaml: %s: %q, want one value", p, y[p])
		return ""
	}
	const pg, app = "services.postgres", "services.otos"
	if img := one(pg + ".image"); !strings.HasPrefix(img, "postgres:16") {
		t.Errorf("compose.yaml: postgres image %q, want postgres:16", img)
	}
	if test := strings.Join(y[pg+".healthcheck.test"], " "); !strings.Contains(test, "pg_isready") {
		t.Errorf("compose.yaml: postgres healthcheck %q does not run pg_isready", test)
	}
	if c := one(app + ".depends_on.postgres.condition"); c != "service_healthy" {
		t.Errorf("compose.yaml: otos depends on postgres with condition %q, want service_healthy", c)
	}

	// OTOS_DB reaches the postgres service, as the user and database it creates.
	dsn, err := url.Parse(one(app + ".environment.OTOS_DB"))
	if err != nil || (dsn.Scheme != "postgres" && dsn.Scheme != "postgresql") {
		t.Fatalf("compose.yaml: OTOS_DB %v, %v: want postgres://…", dsn, err)
	}
	if _, ok := y["services."+dsn.Hostname()+".image"]; !ok || dsn.Hostname() != "postgres" {
		t.Errorf("compose.yaml: OTOS_DB names host %q, not the postgres service", dsn.Hostname())
	}
	if u := dsn.User.Username(); u != one(pg+".environment.POSTGRES_USER") {
		t.Errorf("compose.yaml: OTOS_DB user %q is not POSTGRES_USER", u)
	}
	if db := strings.TrimPrefix(dsn.Path, "/"); db != one(pg+".environment.POSTGRES_DB") {
		t.Errorf("compose.yaml: OTOS_DB database %q is not POSTGRES_DB", db)
	}
	if _, hasPass := dsn.User.Password(); !hasPass && one(app+".environment.PGPASSWORD") != one(pg+".environment.POSTGRES_PASSWORD") {
		t.Error("compose.yaml: otos's PGPASSWORD is not postgres's POSTGRES_PASSWORD")
	}

	// Each service keeps its data in a named volume, otos where the image
	// says its data directory is.
	var data string
	for _, in := range packDockerfile(t) {
		if in.op == "ENV" && strings.HasPrefix(in.args, "OTOS_DATA=") {
			data = strings.TrimPrefix(strings.Fields(in.args)[0], "OTOS_DATA=")
		}
	}
	if d := one(app + ".environment.OTOS_DATA"); d != data {
		t.Errorf("compose.yaml: OTOS_DATA %q, the image's is %q", d, data)
	}
	for svc, dir := range map[string]string{pg: "/var/lib/postgresql/data", app: data} {
		var found bool
		for _, v := range y[svc+".volumes"] {
			name, target, _ := strings.Cut(v, ":")
			if target != dir {
				continue
			}
			found = true
			if _, ok := y["volumes."+name]; !ok {
				t.Errorf("compose.yaml: %s mounts %q, not a volume declared under volumes:", svc, name)
			}
		}
		if !found {
			t.Errorf("compose.yaml: %s has no volume on %s (volumes %q)", svc, dir, y[svc+".volumes"])
		}
	}
	m := NewMain().Config
	for _, addr := range []string{m.HTTP, m.MQTT} {
		_, port, _ := net.SplitHostPort(addr)
		if !slices.ContainsFunc(y[app+".ports"], func(p string) bool { return strings.HasSuffix(p, ":"+port) }) {
			t.Errorf("compose.yaml: otos publishes %q, not port %s", y[app+".ports"], port)
		}
	}
	ctxDir := filepath.Join(packRoot, "deploy", one(app+".build.context"))
	if _, err := os.Stat(filepath.Join(ctxDir, one(app+".build.dockerfile"))); err != nil {
		t.Errorf("compose.yaml: the build context holds no Dockerfile: %v", err)
	}
}
