#!/usr/bin/env bash
# test_models.sh — the ads path end to end through replay (issue 5): the
# configured click models score every view, learn from the closed examples
# and beat the base rate; snapshots are written, inspected, refused when
# corrupt, and warm-start a later run.
set -euo pipefail
bin=${1:?usage: test_models.sh path/to/streamlearn}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fails=0
ok() { echo "ok   $*"; }
fail() { echo "FAIL $*"; fails=$((fails + 1)); }
num() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }

"$bin" gen --events 120000 --seed 5 --surfaces ads --quiet --out "$work/all.jsonl"
head -n 60000 "$work/all.jsonl" > "$work/first.jsonl"
tail -n +60001 "$work/all.jsonl" > "$work/second.jsonl"
cat > "$work/cfg.json" <<'JSON'
{"features": {"hash_bits": 18},
 "surfaces": {"ads": {"window_ms": 300000, "lateness_ms": 10000}},
 "metrics": {"window_events": 5000},
 "models": {"click": {"kind": "ftrl_lr", "surface": "ads", "l1": 0.5},
            "click_fm": {"kind": "fm", "surface": "ads", "factors": 4},
            "click_sampled": {"kind": "ftrl_lr", "surface": "ads", "neg_weight": 5}}}
JSON

"$bin" replay --config "$work/cfg.json" --input "$work/first.jsonl" --out "$work/a" --quiet --no-progress
s=$work/a/summary.json
views=$(num "$s" "d['operators']['join']['examples']")
scores=$(wc -l < "$work/a/scores.jsonl")
[ "$scores" -eq $((3 * views)) ] && ok "one score per model per view ($scores)" \
  || fail "scores: $scores records for $views views and 3 models"
for m in click click_fm; do
  learned=$(num "$s" "d['operators']['join']['models']['$m']['learned']")
  [ "$learned" -eq "$views" ] && ok "$m learned every example ($learned)" \
    || fail "$m learned $learned of $views"
done
sampled=$(num "$s" "d['operators']['join']['models']['click_sampled']['learned']")
python3 -c "import sys; v,l=$views,$sampled; sys.exit(0 if l < 0.5*v else 1)" \
  && ok "click_sampled learned a down-sampled $sampled of $views" || fail "click_sampled learned $sampled of $views"
# The last metrics window of each model: it must beat the base rate.
for m in click click_fm click_sampled; do
  last=$(grep "\"model\":\"$m\"" "$work/a/metrics.jsonl" | tail -1)
  ne=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['window']['ne'])" "$last")
  auc=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['window']['auc'])" "$last")
  python3 -c "import sys; sys.exit(0 if $ne < 1.0 and $auc > 0.6 else 1)" \
    && ok "$m beats the base rate in its last window (NE $ne, AUC $auc)" \
    || fail "$m last window NE $ne AUC $auc (want NE < 1, AUC > 0.6)"
done
grep -q '"predictions":{"prior":[0-9.]*,"click":[0-9.]*,"click_fm":[0-9.]*,"click_sampled":' \
  "$work/a/examples.jsonl" && ok "examples carry every model's prediction" \
  || fail "examples lack the models' predictions"

# Snapshots: one file per model, sound, named.
for m in click click_fm click_sampled; do
  f=$work/a/snapshots/$m.snap
  out=$("$bin" snapshot inspect "$f") && echo "$out" | grep -q "\"name\":\"$m\"" \
    && ok "snapshot inspect $m.snap" || fail "snapshot inspect $m.snap: $out"
done
cp "$work/a/snapshots/click.snap" "$work/bad.snap"
printf '\x01' | dd of="$work/bad.snap" bs=1 seek=5000 conv=notrunc 2>/dev/null
msg=$("$bin" snapshot inspect "$work/bad.snap" 2>&1) && fail "a corrupt snapshot was accepted" \
  || { echo "$msg" | grep -q "checksum mismatch" && ok "corrupt snapshot refused: $msg" \
       || fail "corrupt snapshot: unclear message: $msg"; }
head -c 1000 "$work/a/snapshots/click.snap" > "$work/short.snap"
msg=$("$bin" replay --config "$work/cfg.json" --input "$work/second.jsonl" --out "$work/x" \
  --warm-start "$work/short.snap" --quiet 2>&1) && fail "a truncated warm start was accepted" \
  || { [ $? -eq 2 ] && echo "$msg" | grep -q "truncated" && ok "truncated warm start refused (exit 2): $msg" \
       || fail "truncated warm start: $msg"; }
sed 's/"hash_bits": 18/"hash_bits": 17/' "$work/cfg.json" > "$work/cfg17.json"
msg=$("$bin" replay --config "$work/cfg17.json" --input "$work/second.jsonl" --out "$work/x" \
  --warm-start "$work/a/snapshots/click.snap" --quiet 2>&1) && fail "a snapshot of another shape was accepted" \
  || { echo "$msg" | grep -q "hash_bits" && ok "warm start of another shape refused: $msg" \
       || fail "shape mismatch: unclear message: $msg"; }
echo '{"models": {"other": {"kind": "ftrl_lr", "surface": "ads"}}}' > "$work/other.json"
msg=$("$bin" replay --config "$work/other.json" --input "$work/second.jsonl" --out "$work/x" \
  --warm-start "$work/a/snapshots/click.snap" --quiet 2>&1) && fail "a snapshot of no configured model was accepted" \
  || { echo "$msg" | grep -q 'model "click"' && ok "warm start of an unknown model refused: $msg" \
       || fail "unknown model: unclear message: $msg"; }

# Warm start: the second half, once cold and once from the first half's
# snapshots. The warm models start where the first run ended: their first
# scores are not the cold 0.5 and their log loss over the run is lower.
"$bin" replay --config "$work/cfg.json" --input "$work/second.jsonl" --out "$work/cold" --quiet --no-progress
"$bin" replay --config "$work/cfg.json" --input "$work/second.jsonl" --out "$work/warm" --quiet --no-progress \
  --warm-start "$work/a/snapshots/click.snap" --warm-start "$work/a/snapshots/click_fm.snap"
first=$(grep -m1 '"model":"click"' "$work/warm/scores.jsonl")
echo "$first" | grep -q '"p_click":0.500000' && fail "warm click starts cold: $first" \
  || ok "warm click's first score comes from the snapshot"
for m in click click_fm; do
  c=$(num "$work/cold/summary.json" "d['operators']['join']['metrics']['ads']['$m']['logloss']")
  w=$(num "$work/warm/summary.json" "d['operators']['join']['metrics']['ads']['$m']['logloss']")
  python3 -c "import sys; sys.exit(0 if $w < $c else 1)" \
    && ok "$m warm log loss $w < cold $c" || fail "$m warm log loss $w, cold $c"
done
v=$(num "$work/warm/summary.json" "d['operators']['join']['models']['click']['learned']")
v0=$(num "$s" "d['operators']['join']['models']['click']['learned']")
[ "$v" -gt "$v0" ] && ok "the warm model's version continues ($v0 -> $v)" || fail "warm version $v after $v0"

# The feed path: the multi-task model scores every head and a blended
# score, each head has its metrics (dwell as a regression on clicked views),
# the binary heads beat the base rate, and it snapshots and warm-starts.
"$bin" gen --events 60000 --seed 8 --surfaces feed --quiet --out "$work/feed.jsonl"
cat > "$work/feed.json" <<'JSON'
{"surfaces": {"feed": {"window_ms": 300000, "lateness_ms": 10000}},
 "metrics": {"window_events": 5000},
 "models": {"feed": {"kind": "mtl", "surface": "feed", "hidden": [32], "emb_bits": 12,
                     "embed_dim": 8, "mini_batch": 32, "lr": 0.003}}}
JSON
"$bin" replay --config "$work/feed.json" --input "$work/feed.jsonl" --out "$work/f" --quiet --no-progress
grep -m1 '"model":"feed"' "$work/f/scores.jsonl" | grep -q '"p_click":.*"p_like":.*"p_share":.*"dwell_ms":.*"score":' \
  && ok "feed scores carry every head and the blended score" || fail "feed scores lack heads"
for m in feed feed.like feed.share; do
  last=$(grep "\"model\":\"$m\"" "$work/f/metrics.jsonl" | tail -1)
  ne=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['window']['ne'])" "$last")
  python3 -c "import sys; sys.exit(0 if $ne < 1.0 else 1)" \
    && ok "$m beats the base rate in its last window (NE $ne)" || fail "$m last window NE $ne"
done
dwell=$(num "$work/f/summary.json" "d['operators']['join']['metrics']['feed']['feed.dwell_ms']")
python3 -c "import sys,math; w=$dwell; sys.exit(0 if w['real_n'] > 0 and w['n'] == 0 and math.isfinite(w['huber']) else 1)" \
  && ok "the dwell head has regression metrics on clicked views only" || fail "dwell metrics: $dwell"
"$bin" snapshot inspect "$work/f/snapshots/feed.snap" | grep -q '"kind":"mtl"' \
  && ok "snapshot inspect feed.snap (mtl)" || fail "mtl snapshot"
"$bin" replay --config "$work/feed.json" --input "$work/feed.jsonl" --out "$work/f2" --quiet --no-progress \
  --warm-start "$work/f/snapshots/feed.snap"
first=$(grep -m1 '"model":"feed"' "$work/f2/scores.jsonl")
cold=$(grep -m1 '"model":"feed"' "$work/f/scores.jsonl")
[ "${first#*scores}" != "${cold#*scores}" ] && ok "the warm feed model starts from its snapshot" \
  || fail "warm feed model scores like a cold one: $first"

[ "$fails" -eq 0 ] || { echo "$fails check(s) failed"; exit 1; }
echo "all model checks passed"
