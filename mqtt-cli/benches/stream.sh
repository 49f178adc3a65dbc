#!/usr/bin/env bash
# Streaming benchmark for issue 6: `mqpub -l` vs `mosquitto_pub -l`.
#
# Publishes LINES lines (default 100,000) read from stdin at QoS 1 (one message per line, one
# connection) through the same mosquitto broker (a fresh one on a free loopback port), with
# both tools interleaved over ROUNDS rounds (default 7), and prints each time, the medians and
# the ratio mqpub / mosquitto_pub. Each run ends when every PUBACK is in and DISCONNECT is sent.
# A mosquitto_sub counts the deliveries of every run (-C LINES); a run that delivers fewer is
# reported (WARNING lines and the count of incomplete runs). mosquitto_pub 2.0.11 is one such:
# with more than 65,535 lines read ahead of their PUBACKs its message ids wrap and it
# disconnects early (100,000 lines: 34,467 delivered), so compare at LINES=60000 too.
#
# Usage (from the workspace root):
#   mqtt-cli/benches/stream.sh                 # builds mqpub with `cargo build --release -p mqtt-cli`
#   LINES=20000 ROUNDS=3 QOS=0 mqtt-cli/benches/stream.sh
# Needs: mosquitto (broker), mosquitto_pub, mosquitto_sub, python3 (for the free port).
# CARGO_TARGET_DIR is honoured (default: target).
set -euo pipefail

LINES=${LINES:-100000}
ROUNDS=${ROUNDS:-7}
QOS=${QOS:-1}
TARGET=${CARGO_TARGET_DIR:-target}
MOSQUITTO=${MOSQUITTO:-$(command -v mosquitto || echo /usr/sbin/mosquitto)}

cargo build --release -p mqtt-cli --bin mqpub >&2
MQPUB="$TARGET/release/mqpub"

work=$(mktemp -d)
broker_pid=
cleanup() {
    if [ -n "$broker_pid" ]; then kill "$broker_pid" 2>/dev/null || true; wait "$broker_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# log_type subscribe: one line per SUBSCRIBE, which tells when the counting subscriber is in.
printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\nlog_dest stderr\nlog_type subscribe\n' "$port" > "$work/mosquitto.conf"
"$MOSQUITTO" -c "$work/mosquitto.conf" > "$work/broker.log" 2>&1 &
broker_pid=$!
for _ in $(seq 100); do
    if mosquitto_pub -h 127.0.0.1 -p "$port" -t warmup -n 2>/dev/null; then break; fi
    sleep 0.05
done

# LINES lines of ~40 bytes, like sensor readings.
python3 -c "
import sys
n = int(sys.argv[1])
sys.stdout.write(''.join(f'sensor/{i % 100} {{\"seq\":{i},\"value\":{i * 7 % 1000}}}\n' for i in range(n)))
" "$LINES" > "$work/lines"

now() { date +%s.%N; }

# One timed run: $1 = program. Prints seconds.
run_once() {
    local prog=$1
    local before
    before=$(grep -c ' bench$' "$work/broker.log" || true)
    mosquitto_sub -h 127.0.0.1 -p "$port" -t bench -q "$QOS" -C "$LINES" -W 600 > "$work/sub.out" &
    local sub=$!
    # Wait (bounded) until the broker has logged this subscription.
    for _ in $(seq 500); do
        [ "$(grep -c ' bench$' "$work/broker.log" || true)" -gt "$before" ] && break
        sleep 0.01
    done
    local t0 t1
    t0=$(now)
    "$prog" -h 127.0.0.1 -p "$port" -t bench -q "$QOS" -l < "$work/lines"
    t1=$(now)
    # The subscriber ends at LINES messages; if some were lost, stop it once nothing new
    # arrived for 2 s.
    local got last=-1 still=0
    while kill -0 "$sub" 2>/dev/null; do
        got=$(wc -l < "$work/sub.out")
        if [ "$got" -eq "$last" ]; then still=$((still + 1)); else still=0; last=$got; fi
        if [ "$still" -ge 20 ]; then kill "$sub" 2>/dev/null || true; break; fi
        sleep 0.1
    done
    wait "$sub" 2>/dev/null || true
    got=$(wc -l < "$work/sub.out")
    if [ "$got" -ne "$LINES" ]; then
        echo "WARNING: $(basename "$prog"): the subscriber got $got of $LINES messages" >&2
        echo "$(basename "$prog")" >> "$work/incomplete"
    fi
    echo "$t0 $t1" | awk '{printf "%.3f\n", $2 - $1}'
}

median() { sort -n | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }

: > "$work/mosq.times"
: > "$work/incomplete"
: > "$work/mq.times"
echo "lines=$LINES qos=$QOS rounds=$ROUNDS broker=mosquitto $("$MOSQUITTO" -h 2>/dev/null | head -1 | awk '{print $3}')" >&2
for r in $(seq "$ROUNDS"); do
    if [ $((r % 2)) -eq 1 ]; then order="mosquitto_pub $MQPUB"; else order="$MQPUB mosquitto_pub"; fi
    for prog in $order; do
        t=$(run_once "$prog")
        if [ "$prog" = mosquitto_pub ]; then echo "$t" >> "$work/mosq.times"; else echo "$t" >> "$work/mq.times"; fi
        printf 'round %d %-14s %s s\n' "$r" "$(basename "$prog")" "$t" >&2
    done
done
m1=$(median < "$work/mosq.times")
m2=$(median < "$work/mq.times")
# Messages per second only for a tool whose every run delivered all the lines.
rate() {
    if grep -qx "$1" "$work/incomplete"; then echo "incomplete runs, no rate"; else
        awk -v t="$2" -v n="$LINES" 'BEGIN{printf "%.0f msg/s", n/t}'; fi
}
echo "median mosquitto_pub: $m1 s ($(rate mosquitto_pub "$m1"))"
echo "median mqpub:         $m2 s ($(rate mqpub "$m2"))"
echo "ratio mqpub/mosquitto_pub: $(awk -v a="$m2" -v b="$m1" 'BEGIN{printf "%.2f", a/b}')"
echo "incomplete runs: mosquitto_pub $(grep -cx mosquitto_pub "$work/incomplete" || true), mqpub $(grep -cx mqpub "$work/incomplete" || true)"
