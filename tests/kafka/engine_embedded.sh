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
