#!/usr/bin/env bash
# demo.sh — what `make run` shows: the generator simulates a world of users
# and items (all three surfaces, with some late, duplicate and malformed
# events), and the engine replays it through the operator graph with live
# progress, then prints the summary.
set -euo pipefail
bin=${1:-build/release/cli/streamlearn}
events=${SL_DEMO_EVENTS:-1000000}
dir=${SL_DEMO_DIR:-build/demo}
mkdir -p "$dir"

echo "== generating $events events (seed 42, 0.1% malformed) into $dir/events.jsonl.gz"
"$bin" gen --events "$events" --seed 42 --bad 0.001 --out "$dir/events.jsonl.gz" \
  --truth "$dir/truth.jsonl.gz"

echo "== replaying them through the graph (configs/default.json)"
"$bin" replay --config configs/default.json --input "$dir/events.jsonl.gz" --out "$dir/out" \
  --progress

echo "== $dir/out/summary.json"
cat "$dir/out/summary.json"
echo "== first dead letters ($dir/out/deadletter.jsonl)"
head -n 3 "$dir/out/deadletter.jsonl" | cut -c 1-200
