#!/usr/bin/env python3
"""A peer for the replay benchmark: the naive consumer of a JSON Lines file,
reading each line and parsing it with Python's json module (C accelerated),
checking `type` and counting per type. Prints lines/s."""
import json
import sys
import time

path = sys.argv[1]
t0 = time.perf_counter()
counts = {}
bad = 0
with open(path, "rb") as f:
    for line in f:
        try:
            ev = json.loads(line)
            t = ev["type"]
            counts[t] = counts.get(t, 0) + 1
        except Exception:
            bad += 1
dt = time.perf_counter() - t0
n = sum(counts.values()) + bad
print(f"python json.loads: {n} lines, {bad} bad, {dt:.2f} s, {n / dt:,.0f} lines/s")
