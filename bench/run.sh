#!/usr/bin/env bash
# bench/run.sh — the benchmarks of bench/RESULTS.md, each with its peer in
# the same run. Needs the release build (make bench builds it).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=build/release/cli/streamlearn
work=${SL_BENCH_DIR:-build/bench}
n=${SL_BENCH_EVENTS:-1000000}
mkdir -p "$work"

echo "== generate $n events (seed 7, 0.1% malformed)"
"$bin" gen --events "$n" --seed 7 --bad 0.001 --quiet --out "$work/events.jsonl"

echo "== parse + validate: fast path vs jansson alone, same messages"
build/release/bench/bench_parse "$work/events.jsonl"

echo "== replay (parse -> route -> score, files out) vs python json.loads per line"
"$bin" replay --config configs/default.json --input "$work/events.jsonl" --out "$work/replay" --no-progress
python3 bench/json_lines_peer.py "$work/events.jsonl"
