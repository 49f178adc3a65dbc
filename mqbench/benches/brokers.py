#!/usr/bin/env python3
"""The BENCHMARKS.md table "Brokers under load, measured by mqbench": mosquitto and mqbroker,
each started fresh per run on a free loopback port, measured by the release mqbench; medians
of RUNS runs. Build first: cargo build --release -p mqbench -p mqbroker. Linux only (reads
the brokers' memory from /proc). Usage: python3 mqbench/benches/brokers.py [RUNS]"""

import json, os, resource, socket, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MQBENCH = os.path.join(ROOT, "target/release/mqbench")
MQBROKER = os.path.join(ROOT, "target/release/mqbroker")
MOSQUITTO = os.environ.get("MOSQUITTO", "/usr/sbin/mosquitto")
RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 3
CONNS = 10000


def raise_limit():
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def status_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def start(broker):
    port = free_port()
    if broker == "mosquitto":
        d = tempfile.mkdtemp(prefix="mqbench-")
        os.chmod(d, 0o755)
        conf = os.path.join(d, "m.conf")
        with open(conf, "w") as f:
            f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_connections -1\n"
                    "max_queued_messages 0\npersistence false\n")
        os.chmod(conf, 0o644)
        cmd = [MOSQUITTO, "-c", conf]
    else:
        cmd = [MQBROKER, "--port", str(port)]
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, preexec_fn=raise_limit)
    for _ in range(500):
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            break
        except OSError:
            time.sleep(0.01)
    return p, f"mqtt://127.0.0.1:{port}"


def mqbench(args):
    out = subprocess.run([MQBENCH, *args, "--json", "--quiet"], capture_output=True, text=True,
                         preexec_fn=raise_limit)
    v = json.loads(out.stdout)
    assert v["exit_code"] == 0, (args, v)
    return v


# mqbroker refuses connections beyond 1,000 (the reference broker's default cap, with no flag
# to raise it yet): the 10,000-connection run is mosquitto's only.
SCENARIOS = {
    "conn10k": ["conn", "-c", str(CONNS)],
    "conn": ["conn", "-c", "1000"],
    "qos0": ["pub", "-c", "4", "-n", "100000", "-q", "0", "--sub"],
    "qos1": ["pub", "-c", "4", "-n", "50000", "-q", "1", "--sub"],
    "qos2": ["pub", "-c", "4", "-n", "25000", "-q", "2", "--sub"],
    "latency": ["pub", "-c", "10", "-m", "100", "-d", "10", "-q", "1", "--sub"],
}


def main():
    raise_limit()
    results = {}
    for broker in ["mosquitto", "mqbroker"]:
        for name, args in SCENARIOS.items():
            if broker == "mqbroker" and name == "conn10k":
                continue
            for _ in range(RUNS):
                p, url = start(broker)
                before = status_kb(p.pid, "VmRSS")
                try:
                    v = mqbench(["-u", url, *args])
                    v["broker_growth_per_conn"] = (status_kb(p.pid, "VmHWM") - before) * 1024 / max(v["connected"], 1)
                finally:
                    p.kill()
                    p.wait()
                results.setdefault((broker, name), []).append(v)
                print(broker, name, json.dumps(v), file=sys.stderr)

    def med(broker, name, f):
        if (broker, name) not in results:
            return float("nan")
        return statistics.median(f(v) for v in results[(broker, name)])

    print(f"| measure | mosquitto 2.0.11 | mqbroker |")
    print("| --- | ---: | ---: |")
    rows = [
        (f"connect rate, {CONNS:,} clients (conn/s)", "conn10k", lambda v: v["connect_rate"], "{:,.0f}"),
        (f"broker memory per connection, {CONNS:,} clients (KiB)", "conn10k", lambda v: v["broker_growth_per_conn"] / 1024, "{:.1f}"),
        (f"mqbench memory per connection, {CONNS:,} clients (KiB)", "conn10k", lambda v: v["rss_per_connection_bytes"] / 1024, "{:.1f}"),
        ("connect rate, 1,000 clients (conn/s)", "conn", lambda v: v["connect_rate"], "{:,.0f}"),
        ("broker memory per connection, 1,000 clients (KiB)", "conn", lambda v: v["broker_growth_per_conn"] / 1024, "{:.1f}"),
    ]
    for q in ["qos0", "qos1", "qos2"]:
        rows.append((f"QoS {q[-1]}: 4 publishers → 1 subscriber, sent (msg/s)", q, lambda v: v["sent_per_second"], "{:,.0f}"))
        rows.append((f"QoS {q[-1]}: received (msg/s)", q, lambda v: v["received_per_second"], "{:,.0f}"))
    rows.insert(7, ("QoS 0: delivered (% of sent; the rest dropped by the broker)", "qos0", lambda v: 100 * v["received"] / max(v["sent"], 1), "{:.1f}"))
    for p in ["p50", "p90", "p99", "max"]:
        rows.append((f"latency {p}, 10 × 100 msg/s QoS 1 (µs)", "latency", lambda v, p=p: v["latency_us"][p], "{:,.0f}"))
    for label, name, f, fmt in rows:
        cells = []
        for broker in ["mosquitto", "mqbroker"]:
            m = med(broker, name, f)
            cells.append("n/a" if m != m else fmt.format(m))
        print(f"| {label} | {cells[0]} | {cells[1]} |")


main()
