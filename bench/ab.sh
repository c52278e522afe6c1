#!/usr/bin/env bash
# ab.sh: new-device registrations through otos serve, for two or more builds (or stores) interleaved in
# the same minutes, so that a shared, noisy machine's drift hits each alike. Each round starts every
# BUILD in turn on a fresh copy of its store, creates a template, and runs wrk's "new" mode of the shared
# auth.lua for DURATION with 32 connections.
#
#   bench/ab.sh REV|BIN[=DATA] ...    e.g. bench/ab.sh HEAD~1 HEAD
#                                          bench/ab.sh HEAD HEAD=/path/to/grown   (an empty store against a filled one)
#
# REV is a git revision (built into a temporary directory), BIN a built otos binary. DATA is a data
# directory whose otos.db is copied for every round (e.g. one filled by sqlite.LoadDevices, see
# docs/PERFORMANCE.md); without it, each round starts empty. ROUNDS (3), DURATION (6s), SHARED.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared/bench}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-6s}
WORK=$(mktemp -d /tmp/otos-ab.XXXXXX)
HTTP=127.0.0.1:18191 MQTT=127.0.0.1:18193
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$WORK"' EXIT
command -v wrk >/dev/null || { echo "wrk is needed (Debian: apt-get install wrk)"; exit 1; }
[ -f "$SHARED/auth.lua" ] || { echo "no $SHARED/auth.lua: set SHARED to the shared bench directory"; exit 1; }
[ $# -ge 1 ] || { sed -n '2,12p' "$0"; exit 2; }

bins=() datas=() labels=()
for i in $(seq $#); do
	arg=${!i} spec=${arg%%=*} data=
	[ "$arg" != "$spec" ] && data=${arg#*=}
	if [ -x "$spec" ] && [ -f "$spec" ]; then
		bins+=("$(realpath "$spec")")
	else
		git worktree add -q --detach "$WORK/src$i" "$spec"
		(cd "$WORK/src$i" && go build -o "$WORK/otos$i" ./cmd/otos)
		git worktree remove --force "$WORK/src$i"
		bins+=("$WORK/otos$i")
	fi
	datas+=("$data") labels+=("$arg")
done

for r in $(seq "$ROUNDS"); do
	for i in "${!bins[@]}"; do
		rm -rf "$WORK/data" && mkdir -p "$WORK/data"
		if [ -n "${datas[$i]}" ]; then
			cp "${datas[$i]}/otos.db" "$WORK/data/otos.db"
			[ -f "${datas[$i]}/admin.token" ] && cp "${datas[$i]}/admin.token" "$WORK/data/"
		fi
		"${bins[$i]}" serve --data "$WORK/data" --http $HTTP --mqtt $MQTT --log-level warn --lockout-threshold 0 \
			>"$WORK/otos.log" 2>&1 &
		PID=$!
		for _ in $(seq 600); do curl -sf http://$HTTP/readyz >/dev/null && break; sleep 0.1; done
		secret=$(OTOS_DATA="$WORK/data" "${bins[$i]}" template create --name ab$r --type direct --server http://$HTTP --json |
			sed -n 's/.*"template_secret": *"\([^"]*\)".*/\1/p')
		[ -n "$secret" ] || { echo "otos did not start:"; cat "$WORK/otos.log"; exit 1; }
		res=$(cd "$SHARED" && MODE=new SECRET=$secret TAG=ab$r$RANDOM wrk -t2 -c32 -d"$DURATION" -s auth.lua http://$HTTP | grep RESULT)
		printf 'round %d  %-32s %s\n' "$r" "${labels[$i]}" "${res#RESULT }"
		kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
	done
done
