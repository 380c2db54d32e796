#!/usr/bin/env bash
# test_state_bounded.sh — state does not grow forever: over a long generated
# stream (a day of simulated time, 10-minute half-lives), feature records
# that decayed to nothing are swept and pending views leave at their window's
# end, so the live state after the whole stream is about what it was halfway.
# (Models are left out: their state is bounded by construction, a table plus
# at most 16 row deltas, which tests/operators/test_learners.c checks.)
set -euo pipefail
bin=${1:?usage: test_state_bounded.sh path/to/streamlearn}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
n=${SL_BOUNDED_EVENTS:-240000}

"$bin" gen --events "$n" --seed 5 --rate 2.5 --users 3000 --quiet --out "$work/events.jsonl"
head -n $((n / 2)) "$work/events.jsonl" > "$work/half.jsonl"
cat > "$work/cfg.json" <<'JSON'
{"features": {"half_lives_ms": [600000]}, "models": {}}
JSON
for part in half events; do
  "$bin" replay --config "$work/cfg.json" --input "$work/$part.jsonl" --out "$work/$part" \
    --quiet --no-progress
done
num() { grep -o "\"$2\":[0-9]*" "$work/$1/summary.json" | head -1 | cut -d: -f2; }
h=$(num half feature_records)
f=$(num events feature_records)
swept=$(num events feature_records_swept)
first=$(head -c 200 "$work/events.jsonl" | grep -o '"ts":[0-9]*' | head -1 | cut -d: -f2)
last=$(tail -n 1 "$work/events.jsonl" | grep -o '"ts":[0-9]*' | head -1 | cut -d: -f2)
echo "simulated hours: $(( (last - first) / 3600000 )); feature records: $h at half, $f at the end; swept $swept"
fails=0
if [ "$swept" -le 0 ]; then echo "FAIL nothing was swept"; fails=1; fi
if [ "$f" -gt $(( h * 13 / 10 )) ]; then
  echo "FAIL feature records grew from $h to $f (more than 30%) over the second half"
  fails=1
fi
[ "$fails" -eq 0 ] && echo "ok   state is bounded"
exit "$fails"
