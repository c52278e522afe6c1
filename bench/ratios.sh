#!/usr/bin/env bash
# ratios.sh: the figures of docs/PERFORMANCE.md, as ratios against the baselines of ../shared/bench
# measured in the same run. Each scenario alternates baseline and otos rounds (ROUNDS, default 3) and
# prints every round and the median ratio. Needs wrk, Go, and for the PostgreSQL scenario a server at
# OTOS_PERF_POSTGRES (a DSN of a database it may create and drop other databases from).
#
#   bench/ratios.sh                  # sqlite-new repeat bad-secret mqtt
#   bench/ratios.sh postgres-new     # one scenario
#
# Scenarios: sqlite-new, repeat, bad-secret, postgres-new, mqtt, webhook, nats, rotate, targets (the
# table of issue 19's targets: every figure above and the store alone, in one run).
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared/bench}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-6s}
WORK=$(mktemp -d /tmp/otos-ratios.XXXXXX)
HTTP=127.0.0.1:18181 MQTT=127.0.0.1:18183 CEIL=127.0.0.1:18180 MCEIL=127.0.0.1:18182 SINK=127.0.0.1:18184
NATS=127.0.0.1:18185 NATS_MQTT=127.0.0.1:18186
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true; rm -rf "$WORK"' EXIT

command -v wrk >/dev/null || { echo "wrk is needed (Debian: apt-get install wrk)"; exit 1; }
[ -f "$SHARED/auth.lua" ] || { echo "no $SHARED/auth.lua: set SHARED to the shared bench directory"; exit 1; }
go build -o "$WORK/otos" ./cmd/otos
go build -o "$WORK/webhooksink" ./bench/webhooksink
(cd "$SHARED/ceiling" && go build -o "$WORK/ceiling" .)
(cd "$SHARED/mqtt-ceiling" && go build -o "$WORK/mqtt-ceiling" .)
"$WORK/ceiling" -addr $CEIL >/dev/null 2>&1 & PIDS+=($!)
"$WORK/mqtt-ceiling" -addr $MCEIL -log error >/dev/null 2>&1 & PIDS+=($!)

# otos_start [serve flags...]: a fresh otos on $HTTP and $MQTT; sets SECRET and OTOS_PID.
otos_start() {
	rm -rf "$WORK/data"
	"$WORK/otos" serve --data "$WORK/data" --http $HTTP --mqtt $MQTT --log-level warn "$@" >"$WORK/otos.log" 2>&1 &
	OTOS_PID=$!
	PIDS+=($OTOS_PID)
	for _ in $(seq 50); do curl -sf http://$HTTP/readyz >/dev/null && break; sleep 0.1; done
	SECRET=$(OTOS_DATA="$WORK/data" "$WORK/otos" template create --name perf --type direct --server http://$HTTP --json |
		sed -n 's/.*"template_secret": *"\([^"]*\)".*/\1/p')
	[ -n "$SECRET" ] || { echo "otos did not start:"; cat "$WORK/otos.log"; exit 1; }
}
otos_stop() { kill "$OTOS_PID"; wait "$OTOS_PID" 2>/dev/null || true; }

# wrk_run MODE SECRET URL: wrk's RESULT line (requests a second, answered whatever the code).
wrk_run() {
	(cd "$SHARED" && MODE=$1 SECRET=$2 TAG=${TAG_FIXED:-r$RANDOM$RANDOM} wrk -t2 -c32 -d"$DURATION" -s auth.lua "$3" | grep RESULT)
}
rps_of() { sed 's/.*rps=\([0-9]*\).*/\1/'; }

# http_scenario NAME MODE: rounds of baseline, then otos, and the median ratio.
http_scenario() {
	local name=$1 mode=$2 ratios=()
	rates=() bases=()
	for i in $(seq "$ROUNDS"); do
		local base otos
		base=$(TAG_FIXED= wrk_run new x http://$CEIL)
		otos=$(wrk_run "$mode" "$SECRET" http://$HTTP)
		rates+=("$(echo "$otos" | rps_of)") bases+=("$(echo "$base" | rps_of)")
		local r
		r=$(echo "scale=3; $(echo "$otos" | rps_of) / $(echo "$base" | rps_of)" | bc)
		ratios+=("$r")
		printf '%-13s round %d  ceiling %6s/s  otos %s  ratio %s\n' "$name" "$i" "$(echo "$base" | rps_of)" \
			"$(echo "$otos" | sed 's/RESULT //')" "$r"
	done
	MEDIAN=$(printf '%s\n' "${ratios[@]}" | sort -n | sed -n "$(((ROUNDS + 1) / 2))p")
	# The median round's rates, for the store-alone ratio of the targets scenario.
	MEDIAN_OTOS=$(printf '%s\n' "${rates[@]}" | sort -n | sed -n "$(((ROUNDS + 1) / 2))p")
	MEDIAN_BASE=$(printf '%s\n' "${bases[@]}" | sort -n | sed -n "$(((ROUNDS + 1) / 2))p")
	printf '%-13s median ratio %s\n' "$name" "$MEDIAN"
}

# first_rate, again_rate: the first and the later CONNECTs a second of the otos bench report in $WORK/m.json.
first_rate() { sed -n 's/^    "connects_per_s": *\([0-9.]*\).*/\1/p' "$WORK/m.json" | head -1; }
again_rate() { sed -n 's/^      "connects_per_s": *\([0-9.]*\).*/\1/p' "$WORK/m.json" | head -1; }

mqtt_scenario() {
	local first=() again=()
	for i in $(seq "$ROUNDS"); do
		for broker in $MCEIL $MQTT; do
			"$WORK/otos" bench --server http://$HTTP --secret "$SECRET" --devices 5000 --tag m$i$RANDOM \
				--mqtt $broker --reconnect --json 2>/dev/null >"$WORK/m.json"
			local f a
			f=$(first_rate) a=$(again_rate)
			printf 'mqtt          round %d  %-16s first CONNECTs %7.0f/s  reconnects %7.0f/s\n' "$i" "$broker" "$f" "$a"
			if [ "$broker" = $MCEIL ]; then bf=$f ba=$a; else
				first+=("$(echo "scale=3; $f / $bf" | bc)")
				again+=("$(echo "scale=3; $a / $ba" | bc)")
			fi
		done
	done
	local mid=$(((ROUNDS + 1) / 2))
	MQTT_FIRST=$(printf '%s\n' "${first[@]}" | sort -n | sed -n "${mid}p")
	MQTT_AGAIN=$(printf '%s\n' "${again[@]}" | sort -n | sed -n "${mid}p")
	echo "mqtt          median ratio, first CONNECTs $MQTT_FIRST, reconnects $MQTT_AGAIN"
}

# nats_scenario: a nats-server (built from the module otos's go.mod names) with the block `otos nats
# config` prints, plus a static user "bench" that skips the callout; rounds of MQTT CONNECTs of the same
# number of sessions through the callout (each device with its voucher) and as the static user, first
# and later CONNECTs, and the median ratios.
nats_scenario() {
	go build -o "$WORK/nats-server" github.com/nats-io/nats-server/v2
	rm -rf "$WORK/data" "$WORK/js"
	"$WORK/otos" nats config --data "$WORK/data" |
		sed -e 's/^accounts {$/accounts {\n  BENCH: { jetstream: enabled, users: [ { user: bench, password: bench } ] }/' \
			-e 's/auth_users: \[ /auth_users: [ bench, /' >"$WORK/otos-nats.conf"
	cat >"$WORK/nats.conf" <<-EOF
		server_name: bench
		listen: $NATS
		jetstream { store_dir: "$WORK/js" }
		mqtt { listen: $NATS_MQTT }
		include otos-nats.conf
	EOF
	"$WORK/nats-server" -c "$WORK/nats.conf" >"$WORK/nats.log" 2>&1 & PIDS+=($!)
	sleep 1
	"$WORK/otos" serve --data "$WORK/data" --http $HTTP --mqtt "" --nats nats://$NATS --log-level warn >"$WORK/otos.log" 2>&1 &
	OTOS_PID=$!
	PIDS+=($OTOS_PID)
	for _ in $(seq 50); do curl -sf http://$HTTP/readyz >/dev/null && break; sleep 0.1; done
	SECRET=$(OTOS_DATA="$WORK/data" "$WORK/otos" template create --name perf --type direct --server http://$HTTP --json |
		sed -n 's/.*"template_secret": *"\([^"]*\)".*/\1/p')
	[ -n "$SECRET" ] || { echo "otos did not start:"; cat "$WORK/otos.log"; exit 1; }
	local first=() again=()
	for i in $(seq "$ROUNDS"); do
		local bf ba f a
		for who in static callout; do
			local creds=()
			[ $who = static ] && creds=(--mqtt-user bench --mqtt-password bench)
			"$WORK/otos" bench --server http://$HTTP --secret "$SECRET" --devices 5000 --tag n$who$i$RANDOM \
				--mqtt $NATS_MQTT --reconnect "${creds[@]}" --json 2>/dev/null >"$WORK/m.json"
			f=$(first_rate) a=$(again_rate)
			printf 'nats          round %d  %-8s first CONNECTs %7.0f/s  reconnects %7.0f/s\n' "$i" "$who" "$f" "$a"
			if [ $who = static ]; then bf=$f ba=$a; else
				first+=("$(echo "scale=3; $f / $bf" | bc)")
				again+=("$(echo "scale=3; $a / $ba" | bc)")
			fi
		done
	done
	local mid=$(((ROUNDS + 1) / 2))
	echo "nats          median ratio to the static user, first CONNECTs $(printf '%s\n' "${first[@]}" | sort -n | sed -n "${mid}p"), reconnects $(printf '%s\n' "${again[@]}" | sort -n | sed -n "${mid}p")"
	otos_stop
}

# sink_count: how many deliveries the sink has taken.
sink_count() { tail -1 "$WORK/sink.log" | sed -n 's/.*received \([0-9]*\).*/\1/p'; }

# webhook_scenario: new devices on SQLite without a webhook, then with one that receives every event
# (BATCH events a request, default 1), in alternating rounds, and the median ratio of with to without (what delivering the events costs the
# registrations); after each round with the webhook, how long the sink took to receive every event.
webhook_scenario() {
	nice -n "${SINK_NICE:-0}" "$WORK/webhooksink" -addr $SINK 2>"$WORK/sink.log" &
	PIDS+=($!)
	sleep 1.2
	local ratios=()
	for i in $(seq "$ROUNDS"); do
		local without with id before ok waited=0
		without=$(wrk_run new "$SECRET" http://$HTTP)
		id=$(OTOS_DATA="$WORK/data" "$WORK/otos" webhook create --url http://$SINK/hook --batch "${BATCH:-1}" --server http://$HTTP --json |
			sed -n 's/^  "id": *"\([^"]*\)".*/\1/p')
		before=$(sink_count)
		with=$(wrk_run new "$SECRET" http://$HTTP)
		ok=$(echo "$with" | sed 's/.*ok=\([0-9]*\).*/\1/')
		while [ $(($(sink_count) - before)) -lt "$ok" ] && [ $waited -lt 60 ]; do sleep 1; waited=$((waited + 1)); done
		OTOS_DATA="$WORK/data" "$WORK/otos" webhook delete "$id" --server http://$HTTP >/dev/null
		local r
		r=$(echo "scale=3; $(echo "$with" | rps_of) / $(echo "$without" | rps_of)" | bc)
		ratios+=("$r")
		printf 'webhook       round %d  without %6s/s  with %6s/s  ratio %s  delivered %s of %s, within %ss of the end\n' "$i" \
			"$(echo "$without" | rps_of)" "$(echo "$with" | rps_of)" "$r" "$(($(sink_count) - before))" "$ok" "$waited"
	done
	printf '%-13s median ratio with/without %s\n' webhook "$(printf '%s\n' "${ratios[@]}" | sort -n | sed -n "$(((ROUNDS + 1) / 2))p")"
}

run() {
	case $1 in
	sqlite-new) otos_start --lockout-threshold 0; http_scenario sqlite-new new; otos_stop ;;
	repeat) otos_start; repeat_scenario; otos_stop ;;
	bad-secret) otos_start; http_scenario bad-secret badsecret; otos_stop ;;
	postgres-new)
		[ -n "${OTOS_PERF_POSTGRES:-}" ] || { echo "postgres-new: set OTOS_PERF_POSTGRES"; return; }
		psql "$OTOS_PERF_POSTGRES" -qAtc "DROP DATABASE IF EXISTS otos_ratios" -qAtc "CREATE DATABASE otos_ratios" >/dev/null
		otos_start --lockout-threshold 0 --db "$(echo "$OTOS_PERF_POSTGRES" | sed 's#/[^/?]*\(?\|$\)#/otos_ratios\1#')"
		http_scenario postgres-new new; otos_stop ;;
	mqtt) otos_start; mqtt_scenario; otos_stop ;;
	webhook) otos_start --lockout-threshold 0 --webhook-allow-private; webhook_scenario; otos_stop ;;
	nats) nats_scenario ;;
	rotate) otos_start --lockout-threshold 0; rotate_scenario; otos_stop ;;
	targets) targets_scenario ;;
	*) echo "unknown scenario $1"; exit 2 ;;
	esac
}

# repeat_scenario: wrk's repeat mode sends the number fixed-<TAG>; with TAG=1 that is the device that
# otos bench registers as <tag>-1 under the tag "fixed", and connects once, so that repeats get 200082.
repeat_scenario() {
	"$WORK/otos" bench --server http://$HTTP --secret "$SECRET" --devices 1 --tag fixed --mqtt $MQTT >/dev/null 2>&1
	TAG_FIXED=1 http_scenario repeat repeat
}

# rotate_scenario: voucher rotations (each device rotating with the voucher its last rotation issued,
# one device per connection) against repeat registrations that re-issue a voucher (a device that has
# not connected yet, under until_connected: a write, as a rotation is), both sent by otos bench with
# the same concurrency, in alternating rounds, and the median ratio rotate/repeat.
rotate_scenario() {
	local ratios=()
	for i in $(seq "$ROUNDS"); do
		local rep rot
		rep=$("$WORK/otos" bench --server http://$HTTP --secret "$SECRET" --mode repeat --tag rp$i$RANDOM \
			--devices 0 --duration "$DURATION" --concurrency 32 --json 2>/dev/null | sed -n 's/^  "rps": *\([0-9.]*\).*/\1/p')
		rot=$("$WORK/otos" bench --server http://$HTTP --secret "$SECRET" --mode rotate --tag rt$i$RANDOM \
			--devices 0 --duration "$DURATION" --concurrency 32 --json 2>/dev/null | sed -n 's/^  "rps": *\([0-9.]*\).*/\1/p')
		local r
		r=$(echo "scale=3; $rot / $rep" | bc)
		ratios+=("$r")
		printf 'rotate        round %d  re-issuing repeats %7.0f/s  rotations %7.0f/s  ratio %s\n' "$i" "$rep" "$rot" "$r"
	done
	printf '%-13s median ratio rotate/repeat %s\n' rotate "$(printf '%s\n' "${ratios[@]}" | sort -n | sed -n "$(((ROUNDS + 1) / 2))p")"
}

# store_alone PKG: new devices a second that the store alone inserts, with their registration events,
# from 32 concurrent callers (its Go benchmark: the same durability and the batch sizes the group commit
# reaches), the median of ROUNDS runs.
store_alone() {
	local rs=()
	for _ in $(seq "$ROUNDS"); do
		local ns
		ns=$(go test -run '^$' -bench 'BenchmarkCreateDevice/events=true' -benchtime "$DURATION" "./$1" 2>/dev/null |
			sed -n 's/^BenchmarkCreateDevice[^ ]*[ \t]*[0-9]*[ \t]*\([0-9.]*\) ns\/op.*/\1/p')
		[ -n "$ns" ] || { echo "store_alone $1: the benchmark gave nothing"; exit 1; }
		rs+=("$(echo "1000000000 / $ns" | bc)")
	done
	printf '%s\n' "${rs[@]}" | sort -n | sed -n "$(((ROUNDS + 1) / 2))p"
}

# row NAME VALUE TARGET: one line of the targets table.
row() { printf '| %-44s | %7s | %6s | %-3s |\n' "$1" "$2" "$3" "$(echo "$2 >= $3" | bc | sed 's/1/yes/;s/0/no/')"; }

# targets_scenario: issue 19's targets as one table, every figure measured in this run.
targets_scenario() {
	otos_start --lockout-threshold 0; http_scenario sqlite-new new; otos_stop
	local sq_ceil=$MEDIAN sq_rate=$MEDIAN_OTOS
	MEDIAN_BASE_SQ=$MEDIAN_BASE
	local sq_alone
	sq_alone=$(store_alone sqlite)
	otos_start; repeat_scenario; local rep=$MEDIAN; otos_stop
	otos_start; http_scenario bad-secret badsecret; local bad=$MEDIAN; otos_stop
	otos_start; mqtt_scenario; otos_stop
	local pg_ceil="" pg_rate="" pg_alone=""
	if [ -n "${OTOS_PERF_POSTGRES:-}" ]; then
		psql "$OTOS_PERF_POSTGRES" -qAtc "DROP DATABASE IF EXISTS otos_ratios" -qAtc "CREATE DATABASE otos_ratios" >/dev/null
		otos_start --lockout-threshold 0 --db "$(echo "$OTOS_PERF_POSTGRES" | sed 's#/[^/?]*\(?\|$\)#/otos_ratios\1#')"
		http_scenario postgres-new new; pg_ceil=$MEDIAN pg_rate=$MEDIAN_OTOS; otos_stop
		pg_alone=$(OTOS_TEST_POSTGRES=$OTOS_PERF_POSTGRES store_alone postgres)
	fi
	echo
	echo "sqlite store alone: $sq_alone new devices/s; otos served $sq_rate/s"
	[ -n "$pg_alone" ] && echo "postgres store alone: $pg_alone new devices/s; otos served $pg_rate/s"
	echo "| target | measured | aim | met |"
	echo "|---|---|---|---|"
	row "new devices, SQLite / bare server" "$sq_ceil" 0.25
	row "new devices, SQLite / the store alone" "$(echo "scale=3; $sq_rate / $sq_alone" | bc)" 0.60
	if [ -n "$pg_alone" ]; then
		row "new devices, PostgreSQL / bare server" "$pg_ceil" 0.15
		row "new devices, PostgreSQL / the store alone" "$(echo "scale=3; $pg_rate / $pg_alone" | bc)" 0.60
	fi
	row "repeats (200082) / bare server" "$rep" 0.70
	row "wrong secrets / bare server" "$bad" 0.70
	row "first MQTT CONNECTs / allow-all mochi" "$MQTT_FIRST" 0.75
	row "later MQTT CONNECTs / allow-all mochi" "$MQTT_AGAIN" 1.0
	row "the store alone, SQLite / bare server" "$(echo "scale=3; $sq_alone / $MEDIAN_BASE_SQ" | bc)" 0.5
}

for s in "${@:-sqlite-new repeat bad-secret mqtt}"; do
	for one in $s; do run "$one"; done
done
