#!/usr/bin/env bash
# engine_embedded.sh BIN — engine_embedded (label unit, no broker needed):
# the live engine's plumbing on its embedded Kafka (librdkafka's mock
# cluster). `streamlearn run --produce FILE` feeds a file of views and a few
# bad lines into the input topic; the summary must account for every line:
# records = lines, events = views, dead letters = bad lines, outputs
# delivered = views (one score each) + bad lines (one dead letter each).
source "$(dirname "$0")/lib.sh"
kt_init engine_embedded "${1:-}" embedded

VIEWS=3000
BAD=7
{
    kt_views 0 "$VIEWS" | cut -f 2 | sed -n '1,1000p'
    echo '{"type":"view","ts":1767225600000,"user":"u1"'  # truncated
    echo 'not json'
    echo '{"type":"view","ts":"x","user":"u1","surface":"ads","item":"a1","view_id":"b3"}'
    kt_views 0 "$VIEWS" | cut -f 2 | sed -n '1001,2000p'
    echo '{"type":"hover","ts":1767225600000,"user":"u1"}'
    echo '[1,2,3]'
    printf '{"type":"view","ts":1767225600000,"user":"u1","surface":"ads","item":"\xff","view_id":"b6"}\n'
    echo '{"type":"view","ts":1767225600000,"user":"u1","surface":"tv","item":"a1","view_id":"b7"}'
    kt_views 0 "$VIEWS" | cut -f 2 | sed -n '2001,$p'
} >"$KT_DIR/events.jsonl"
kt_expect_eq "lines in the test input" "$(wc -l <"$KT_DIR/events.jsonl")" $((VIEWS + BAD))

# No brokers anywhere: the config leaves kafka.brokers empty and no --brokers.
echo "{\"kafka\":{\"group_id\":\"embedded-test\"},$KT_MODELS}" >"$KT_DIR/config.json"
kt_engine engine --config "$KT_DIR/config.json" --produce "$KT_DIR/events.jsonl" \
    --until-idle 2 --summary "$KT_DIR/summary.json" --no-progress
kt_wait_exit "$KT_PID" 60 "the engine on embedded Kafka (--until-idle 2)"
kt_expect_eq "engine exit status" "$KT_RC" 0
kt_log_has "$KT_DIR/engine.log" "embedded Kafka" || kt_fail "the engine did not start its embedded Kafka"

s=$KT_DIR/summary.json
kt_expect_eq "summary status" "$(kt_str "$s" status)" ok
kt_expect_eq "summary fed (lines produced)" "$(kt_num "$s" fed)" $((VIEWS + BAD))
kt_expect_eq "summary records" "$(kt_num "$s" records)" $((VIEWS + BAD))
kt_expect_eq "summary events" "$(kt_num "$s" events)" "$VIEWS"
kt_expect_eq "summary dead_letters" "$(kt_num "$s" dead_letters)" "$BAD"
kt_expect_eq "summary outputs (scores + dead letters)" "$(kt_num "$s" outputs)" $((VIEWS + BAD))
kt_log "ok: $((VIEWS + BAD)) lines fed, $VIEWS scored, $BAD dead letters, all delivered"
# The state store's figures: each new view id was looked up in RocksDB,
# read ahead for its batch (prefetched) rather than by a get of its own (a
# miss), and then every read of state was answered by the cache (hits).
python3 - "$s" "$VIEWS" <<'PY' || kt_fail "summary: state figures wrong: $(tr '\n' ' ' <"$s")"
import json, sys
st = json.load(open(sys.argv[1]))["state"]
views = int(sys.argv[2])
assert st["prefetched"] >= views, st
assert st["misses"] < views / 10, st
assert st["hits"] >= 2 * views, st
assert st["entries"] > 0 and st["cache_mb"] > 0, st
PY

# --warm-start on the live engine: a click model learned by replay starts
# the engine's model (its learned count continues from the snapshot's), and
# a corrupt snapshot is refused before anything runs (exit 2, the reason).

"$KT_BIN" gen --events 30000 --seed 4 --surfaces ads --quiet --out "$KT_DIR/ads.jsonl"
"$KT_BIN" replay --config "$KT_DIR/config.json" --input "$KT_DIR/ads.jsonl" --out "$KT_DIR/replay" \
    --quiet --no-progress
snap=$KT_DIR/replay/snapshots/click.snap
[[ -s "$snap" ]] || kt_fail "replay wrote no snapshot of click"
learned=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['operators']['join']['models']['click']['learned'])" "$KT_DIR/replay/summary.json")
head -c 4000 "$snap" >"$KT_DIR/short.snap"
rc=0
msg=$("$KT_BIN" run --config "$KT_DIR/config.json" --warm-start "$KT_DIR/short.snap" --until-idle 1 \
    --no-progress 2>&1) || rc=$?
kt_expect_eq "run with a truncated warm start: exit status" "$rc" 2
[[ "$msg" == *truncated* ]] || kt_fail "truncated warm start: unclear message: $msg"
kt_engine warm --config "$KT_DIR/config.json" --warm-start "$snap" --produce "$KT_DIR/events.jsonl" \
    --until-idle 2 --summary "$KT_DIR/warm.json" --no-progress
kt_wait_exit "$KT_PID" 60 "the engine warm-started from a snapshot"
kt_expect_eq "warm engine exit status" "$KT_RC" 0
kt_log_has "$KT_DIR/warm.log" "warm start from" || kt_fail "the engine did not log its warm start"
now=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['operators']['join']['models']['click']['learned'])" "$KT_DIR/warm.json")
((learned > 0 && now >= learned)) || kt_fail "warm engine's click learned $now, the snapshot had $learned"
kt_log "ok: run --warm-start continues the replayed model ($learned -> $now examples), refuses a truncated snapshot"
