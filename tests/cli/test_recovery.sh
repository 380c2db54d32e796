#!/usr/bin/env bash
# test_recovery.sh — crash recovery of replay: a replay killed with SIGKILL
# at random points and rerun, several times, must end with exactly the
# files (scores, examples, metrics, dead letters, model snapshots) and counts
# of an uninterrupted replay of the same input. The models' scores and
# snapshots being identical is what proves their parameters were restored
# bitwise from the checkpoints (tables small enough for ~30 checkpoints, so
# the rolling base turns over and old deltas are deleted).
set -euo pipefail
bin=${1:?usage: test_recovery.sh path/to/streamlearn}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
events=${SL_RECOVERY_EVENTS:-300000}
kills=${SL_RECOVERY_KILLS:-4}

"$bin" gen --events "$events" --seed 11 --bad 0.005 --quiet --out "$work/events.jsonl"
cat > "$work/cfg.json" <<'JSON'
{"state": {"checkpoint_events": 10000, "checkpoint_interval_ms": 200},
 "features": {"hash_bits": 16},
 "models": {"click": {"kind": "ftrl_lr", "surface": "ads"},
            "click_fm": {"kind": "fm", "surface": "ads", "factors": 4},
            "feed_lr": {"kind": "ftrl_lr", "surface": "feed", "neg_weight": 4,
                        "snapshot_interval_ms": 600000},
            "feed": {"kind": "mtl", "surface": "feed", "hidden": [16], "emb_bits": 10,
                     "embed_dim": 4, "mini_batch": 16}}}
JSON

# The reference: one uninterrupted run (with a state dir, so it checkpoints
# exactly as the crashed one does; checkpoints must not change outputs).
"$bin" replay --config "$work/cfg.json" --input "$work/events.jsonl" --out "$work/ref" \
  --state "$work/ref-state" --quiet --no-progress

# The crashed run: killed at random points, rerun each time.
killed=0
for i in $(seq 1 "$kills"); do
  "$bin" replay --config "$work/cfg.json" --input "$work/events.jsonl" --out "$work/run" \
    --state "$work/run-state" --quiet --no-progress 2> "$work/run-$i.log" &
  pid=$!
  sleep "0.$(( (RANDOM % 9) + 1 ))"
  if kill -9 "$pid" 2>/dev/null; then
    killed=$((killed + 1))
  fi
  wait "$pid" 2>/dev/null || true
done
"$bin" replay --config "$work/cfg.json" --input "$work/events.jsonl" --out "$work/run" \
  --state "$work/run-state" --quiet --no-progress 2> "$work/run-final.log"
echo "killed $killed of $kills runs; $(cat "$work"/run-*.log | grep -c resuming) resumed from a checkpoint"

fails=0
for f in scores examples metrics deadletter; do
  if cmp -s "$work/ref/$f.jsonl" "$work/run/$f.jsonl"; then
    echo "ok   $f.jsonl identical ($(wc -l < "$work/ref/$f.jsonl") lines)"
  else
    echo "FAIL $f.jsonl differs: $(wc -l < "$work/ref/$f.jsonl") vs $(wc -l < "$work/run/$f.jsonl") lines"
    fails=$((fails + 1))
  fi
done
n_snaps=$(ls "$work/ref/snapshots" | wc -l)
[ "$n_snaps" -eq 4 ] || { echo "FAIL $n_snaps snapshot files, expected one per model (4)"; fails=$((fails + 1)); }
for f in "$work"/ref/snapshots/*.snap; do
  name=$(basename "$f")
  if cmp -s "$f" "$work/run/snapshots/$name"; then
    echo "ok   snapshots/$name identical"
  else
    echo "FAIL snapshots/$name differs"
    fails=$((fails + 1))
  fi
done
for key in lines events dead_letters; do
  a=$(grep -o "\"$key\": *[0-9]*" "$work/ref/summary.json" | head -1)
  b=$(grep -o "\"$key\": *[0-9]*" "$work/run/summary.json" | head -1)
  if [ "$a" = "$b" ]; then echo "ok   summary $a"; else echo "FAIL summary $a vs $b"; fails=$((fails + 1)); fi
done
if [ "$killed" -lt 1 ]; then
  echo "FAIL no run was killed mid-way (the input is too small for this machine?)"
  fails=$((fails + 1))
fi
[ "$fails" -eq 0 ] && echo "all checks passed"
exit "$fails"
