#!/usr/bin/env bash
# demo.sh — what `make run` shows: the engine on its embedded default. It
# starts an embedded Kafka (librdkafka's mock cluster), the generator
# produces a simulated world's events (all three surfaces, with some late,
# duplicate and malformed ones) into its `events` topic while the engine
# consumes them with live progress, and stops once the stream has been idle
# for a few seconds, printing the summary.
set -euo pipefail
bin=${1:-build/release/cli/streamlearn}
events=${SL_DEMO_EVENTS:-500000}
dir=${SL_DEMO_DIR:-build/demo}
mkdir -p "$dir"

echo "== streamlearn run: embedded Kafka, $events generated events (seed 42, 0.1% malformed)"
"$bin" run --config configs/default.json --generate "$events" --seed 42 --until-idle 3 \
  --summary "$dir/summary.json" --progress

echo "== $dir/summary.json"
cat "$dir/summary.json"
echo
echo "== the same events replayed from a file: streamlearn replay"
"$bin" gen --events 200000 --seed 42 --bad 0.001 --quiet --out "$dir/events.jsonl.gz"
"$bin" replay --config configs/default.json --input "$dir/events.jsonl.gz" --out "$dir/replay"
echo "   outputs in $dir/replay/ (scores.jsonl, deadletter.jsonl, summary.json, ...)"
