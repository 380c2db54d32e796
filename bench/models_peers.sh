#!/usr/bin/env bash
# bench/models_peers.sh — the click models against Vowpal Wabbit and River,
# end to end (issue 5, "Benchmarks"; results in bench/MODELS.md).
#
#   bench/models_peers.sh [EVENTS...]        (default: 100000 1000000)
#
# 1. Generated ads stream, for each EVENTS: `streamlearn gen --surfaces ads
#    --truth` → `streamlearn replay` with CONFIG (configs/ads.json) → the
#    ads examples; every learner on them in order (progressive log loss),
#    the Bayes-optimal loss from the truth beside, and the ablation without
#    the decayed-state features (fields from n_cfg + 7 on: recency, CTRs,
#    decayed counts; docs/FEATURES.md).
# 2. Real data samples under DATA (default ../shared/data), converted by
#    bench/peers_data.py; a dataset that is absent is skipped with a message
#    (REAL=0 skips them all).
#
# Each learner gets the same small grid of its learning-rate knobs; the
# best progressive loss is the one reported (tuned on the stream itself,
# equally for all). Every run is pinned to one core (taskset -c CORE).
# River is pure Python (~5 k examples/s for LR, 30–100/s for its FM with
# ~60 features), so it sees the first RIVER_LR_LIMIT / RIVER_FM_LIMIT
# examples (FM: one setting, AdaGrad 0.02, and not in the ablation), and
# our models are run on the same prefix beside it.
#
# Our field-aware FM (O(n·F·k) a example: 10–20 k examples/s at ~60
# features) runs where a file has at most FFM_LIMIT examples, and on the
# River FM prefix.
#
# Environment: BUILD (build/release), WORK (~/.cache/streamlearn/peers:
# generated data and converted files, never inside the project), DATA, VENV
# (~/.cache/streamlearn/venv: created with vowpalwabbit and river if
# missing), CORE (1), CONFIG, REAL, GEN (0 skips the generated stream),
# FFM_LIMIT (200000). Results: RESULTS (default WORK/results-NAME.txt, NAME:
# the config's file name), one RESULT line per run.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build/release}
WORK=${WORK:-$HOME/.cache/streamlearn/peers}
DATA=${DATA:-$ROOT/../shared/data}
VENV=${VENV:-$HOME/.cache/streamlearn/venv}
CORE=${CORE:-1}
CONFIG=${CONFIG:-$ROOT/configs/ads.json}
REAL=${REAL:-1}
GEN=${GEN:-1}
FFM_LIMIT=${FFM_LIMIT:-200000}
NAME=$(basename "$CONFIG" .json)
RIVER_LR_LIMIT=${RIVER_LR_LIMIT:-100000}
RIVER_FM_LIMIT=${RIVER_FM_LIMIT:-2000}
EVENTS=("$@")
[ ${#EVENTS[@]} -gt 0 ] || EVENTS=(100000 1000000)

mkdir -p "$WORK"
RESULTS=${RESULTS:-$WORK/results-$NAME.txt}
: >"$RESULTS"

# ---- tools ------------------------------------------------------------------
if [ ! -x "$BUILD/bench/bench_models_file" ] || [ ! -x "$BUILD/cli/streamlearn" ]; then
    [ -f "$BUILD/build.ninja" ] || cmake --preset release -B "$BUILD" >/dev/null
    cmake --build "$BUILD" --target bench_models_file streamlearn >/dev/null
fi
if ! "$VENV/bin/python" -c 'import vowpalwabbit, river' 2>/dev/null; then
    echo "models_peers: installing vowpalwabbit and river into $VENV" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q vowpalwabbit river
fi
SL=$BUILD/cli/streamlearn
OURS=$BUILD/bench/bench_models_file
PY=$VENV/bin/python
CONV=$ROOT/bench/peers_convert.py
PIN=(taskset -c "$CORE")
# The first field of the decayed-state group: configured fields, then the
# derived groups from n_cfg; recency is group 7 (docs/FEATURES.md).
ABLATE_FROM=$("$PY" -c 'import json, sys
f = json.load(open(sys.argv[1])).get("features", {})
print(len(f.get("categorical", [])) + len(f.get("crosses", [])) + 7)' "$CONFIG")

# run SET LEARNER-COMMAND...: runs it pinned, tags its RESULT lines with SET.
run() {
    local set=$1
    shift
    "${PIN[@]}" "$@" | grep '^RESULT' | sed "s/^RESULT /RESULT set=$set /" | tee -a "$RESULTS"
}

# learners SET EXAMPLES [TRUTH] [DROP_FROM]: every learner and grid on one file.
learners() {
    local set=$1 ex=$2 truth=${3:-} drop=${4:-1073741824}
    set -- "$1" "$2" "${3:-}" "${4:-}"
    local t=()
    [ -n "$truth" ] && t=(--truth "$truth")
    echo "== $set ($ex)" >&2
    for a in 0.02 0.05 0.1 0.2; do
        for l1 in 0 1; do
            run "$set" "$OURS" "$ex" --model ftrl --alpha "$a" --l1 "$l1" \
                --drop-fields-from "$drop" "${t[@]}"
        done
    done
    for a in 0.05 0.1; do
        for flr in 0.02 0.05 0.1; do
            run "$set" "$OURS" "$ex" --model fm --alpha "$a" --l1 0 --factor-lr "$flr" \
                --drop-fields-from "$drop"
        done
    done
    local n_ex
    n_ex=$(wc -l <"$ex")
    if [ "$n_ex" -le "$FFM_LIMIT" ]; then
        for a in 0.05 0.1; do
            for flr in 0.02 0.05; do
                run "$set" "$OURS" "$ex" --model ffm --k 4 --alpha "$a" --l1 0 \
                    --factor-lr "$flr" --drop-fields-from "$drop"
            done
        done
    fi
    local vwf=$WORK/$set.vw
    "$PY" "$CONV" vw-text "$ex" "$vwf" --drop-fields-from "$drop" 2>/dev/null
    for l in 0.1 0.5 1; do
        run "$set" "$PY" "$CONV" vw "$vwf" --cache --args "-b 24 -l $l"
    done
    for a in 0.02 0.05 0.1 0.2; do
        run "$set" "$PY" "$CONV" vw "$vwf" --cache --args "-b 24 --ftrl --ftrl_alpha $a"
    done
    local n
    n=$(wc -l <"$vwf")
    if [ "$n" -le 200000 ]; then # quadratic in the features: ~10 k examples/s
        run "$set" "$PY" "$CONV" vw "$vwf" --cache --args "-b 24 -q aa"
        run "$set" "$PY" "$CONV" vw "$vwf" --cache --args "-b 24 -q aa -l 0.1"
    fi
    if [ "$n" -le 20000 ]; then # O(n²k) per example in VW 9
        run "$set" "$PY" "$CONV" vw "$vwf" --cache --args "-b 24 --lrq aa4 -l 0.1"
    fi
    rm -f "$vwf"
    # River on a prefix; ours beside it on the same prefix.
    local lim=$RIVER_LR_LIMIT tag=$set
    [ "$n" -le "$lim" ] || tag=$set@$lim
    for a in 0.05 0.2; do
        run "$tag" "$PY" "$CONV" river "$ex" --model lr --alpha "$a" --limit "$lim" \
            --drop-fields-from "$drop"
    done
    if [ "$n" -gt "$lim" ]; then # ours on the same prefix, with its usual grid
        for a in 0.02 0.05 0.1 0.2; do
            for l1 in 0 1; do
                run "$set@$lim" "$OURS" "$ex" --model ftrl --alpha "$a" --l1 "$l1" \
                    --limit "$lim" --drop-fields-from "$drop"
            done
        done
    fi
    [ -z "$4" ] || return 0 # the ablation: River's FM is too slow to run twice
    lim=$RIVER_FM_LIMIT
    run "$set@fm$lim" "$PY" "$CONV" river "$ex" --model fm --lr 0.02 --limit "$lim"
    for flr in 0.02 0.1; do
        run "$set@fm$lim" "$OURS" "$ex" --model fm --alpha 0.1 --l1 0 --factor-lr "$flr" \
            --limit "$lim"
    done
    for a in 0.02 0.05 0.1 0.2; do # our usual grid, as on the LR prefix
        for l1 in 0 1; do
            run "$set@fm$lim" "$OURS" "$ex" --model ftrl --alpha "$a" --l1 "$l1" --limit "$lim"
        done
    done
    for flr in 0.02 0.05; do
        run "$set@fm$lim" "$OURS" "$ex" --model ffm --k 4 --alpha 0.1 --l1 0 --factor-lr "$flr" \
            --limit "$lim"
    done
}

# ---- 1. the generated ads stream --------------------------------------------
[ "$GEN" = 1 ] || EVENTS=()
for n in "${EVENTS[@]}"; do
    d=$WORK/gen$n
    mkdir -p "$d"
    [ -s "$d/truth.jsonl" ] || "$SL" gen --events "$n" --seed 1 --surfaces ads \
        --out "$d/events.jsonl" --truth "$d/truth.jsonl" --quiet
    o=$d/out-$NAME
    [ -s "$o/examples.jsonl" ] || "$SL" replay --config "$CONFIG" --input "$d/events.jsonl" \
        --out "$o" --no-progress --quiet
    learners "$NAME-$n" "$o/examples.jsonl" "$d/truth.jsonl"
    learners "$NAME-$n-nodecay" "$o/examples.jsonl" "$d/truth.jsonl" "$ABLATE_FROM"
done

# ---- 2. real data (REAL=1) ---------------------------------------------------
real() {
    local name=$1 src=$2
    local out=$WORK/real-$name.jsonl
    if "$PY" "$ROOT/bench/peers_data.py" "${name%%-*}" "$src" "$out"; then
        learners "$name" "$out"
    else
        echo "models_peers: $name skipped (no data at $src)" >&2
    fi
}
if [ "$REAL" = 1 ]; then
    real avazu "$DATA/avazu/ycjuan_kaggle-avazu/tr.rx.csv"
    real criteo "$DATA/criteo/ycjuan_kaggle-2014-criteo/train.tiny.csv"
    real ipinyou "$DATA/ipinyou/wnzhang_deep-ctr"
    real mind "$DATA/mind/Farabi667_AI-Term-Project"
fi

# ---- summary: the best loss of each learner per set ---------------------------
echo
echo "best progressive log loss per set and learner (examples/s of that run):"
echo "(all runs: $RESULTS)"
awk '/^RESULT/ {
    set = ""; learner = ""; loss = ""; eps = ""
    for (i = 2; i <= NF; i++) {
        split($i, kv, "=")
        if (kv[1] == "set") set = kv[2]
        if (kv[1] == "learner") learner = kv[2]
        if (kv[1] == "loss") loss = kv[2]
        if (kv[1] == "ex_per_s") eps = kv[2]
    }
    if (learner != "") {
        key = set " " learner
        if (!(key in best) || loss + 0 < best[key] + 0) { best[key] = loss; rate[key] = eps }
    }
} END { for (k in best) printf "%-40s %s  %s\n", k, best[k], rate[k] }' "$RESULTS" | sort
