#!/usr/bin/env python3
"""Print the BENCHMARKS.md table from criterion's results (target/criterion).

Usage: python3 mqtt-proto/benches/summarize.py [target/criterion]
Medians in nanoseconds; ratio = mqtt-proto / rumqttc (below 1 means we are faster).
"""
import json
import pathlib
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")


def median(group_dir, name):
    f = group_dir / name / "new" / "estimates.json"
    if not f.exists():
        return None
    return json.loads(f.read_text())["median"]["point_estimate"]


rows = []
for op in ["publish_encode", "publish_decode", "publish_roundtrip", "session_outbound", "session_inbound"]:
    for group in sorted(root.glob(f"{op}_*")) + sorted(root.glob(f"{op}/*")):
        if not group.is_dir():
            continue
        ours = median(group, "mqtt-proto")
        theirs = median(group, "rumqttc")
        if ours is None or theirs is None:
            continue
        case = group.name.split("_", 2)[-1] if "/" not in str(group.relative_to(root)) else group.name
        rows.append((op.replace("publish_", ""), case, ours, theirs))

print("| operation | case | mqtt-proto (ns) | rumqttc (ns) | ratio |")
print("| --- | --- | ---: | ---: | ---: |")
for op, case, ours, theirs in rows:
    print(f"| {op} | {case} | {ours:.1f} | {theirs:.1f} | {ours / theirs:.2f} |")
