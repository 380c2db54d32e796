#!/usr/bin/env bash
# broker_outage.sh BIN — kafka_broker_outage: the engine outlives 20 s with
# every broker down. It runs (until idle 60 s) through the first half of the
# views, then every node of the cluster is stopped (scripts/kafka.sh
# stop-node) for 20 s and started again, then the second half is produced.
# The engine must say clearly that it is waiting for the brokers, reconnect
# on its own, score every view at least once, and stop on SIGTERM with exit 0.
# (kcat gives up when all brokers are down, so nothing here calls it during
# the outage.)
source "$(dirname "$0")/lib.sh"
kt_init kafka_broker_outage "${1:-}"

KAFKA_SH="$(cd "$(dirname "$0")/../.." && pwd)/scripts/kafka.sh"
N=40000
OUTAGE=20
in=$(kt_topic in)
scores=$(kt_topic scores)

# Nodes that are up now: the ones to stop (all of them: a real outage).
nodes=$("$KAFKA_SH" status 2>/dev/null | awk '/^node [0-9]+: up/ { sub(":", "", $2); print $2 }')
[[ -n "$nodes" ]] || kt_fail "scripts/kafka.sh status shows no node up: is the broker of SL_KAFKA_BOOTSTRAP ours?"

kt_create_topic "$in"
kt_config "$KT_DIR/config.json" "sl-$KT_NAME-$KT_ID"
kt_views 0 "$N" >"$KT_DIR/views.tsv"
kt_ids "$KT_DIR/views.tsv" >"$KT_DIR/expected.ids"
head -n $((N / 2)) "$KT_DIR/views.tsv" >"$KT_DIR/half1.tsv"
tail -n +$((N / 2 + 1)) "$KT_DIR/views.tsv" >"$KT_DIR/half2.tsv"

kt_engine engine --config "$KT_DIR/config.json" --until-idle 60 --summary "$KT_DIR/summary.json" --no-progress
pid=$KT_PID
kt_wait_for 30 "the engine to be assigned partitions" kt_log_has "$KT_DIR/engine.log" "assigned $in\["
kt_produce "$in" "$KT_DIR/half1.tsv"
kt_wait_for 60 "the first half's scores" kt_count_at_least "$scores" $((N / 2))
sleep 2 # an auto-commit (every 1 s) lands: duplicates then measure the outage alone
kt_log "first half scored; stopping node(s) $(echo $nodes) for $OUTAGE s"

# If the test dies during the outage, the nodes must come back for the next.
KT_ON_EXIT+=("for i in $(echo $nodes); do '$KAFKA_SH' start-node \$i >/dev/null 2>&1; done")
for i in $nodes; do
    "$KAFKA_SH" stop-node "$i" >/dev/null || kt_fail "scripts/kafka.sh stop-node $i failed"
done
sleep "$OUTAGE"
kill -0 "$pid" 2>/dev/null || kt_fail "the engine died while the brokers were down"
for i in $nodes; do
    "$KAFKA_SH" start-node "$i" >/dev/null || kt_fail "scripts/kafka.sh start-node $i failed"
done
KT_ON_EXIT=()
kt_log "node(s) back; producing the second half"

kt_produce "$in" "$KT_DIR/half2.tsv"
kt_expect_eq "messages in the input topic" "$(kt_count "$in")" "$N"

# Every view scored: wait for the count, then for the set (in case some
# scores are duplicates and others still to come).
complete() {
    kt_count_at_least "$scores" "$N" || return 1
    kt_consume "$scores" >"$KT_DIR/scores.jsonl"
    kt_ids "$KT_DIR/scores.jsonl" >"$KT_DIR/scored.ids"
    [[ -z "$(LC_ALL=C comm -23 "$KT_DIR/expected.ids" <(LC_ALL=C uniq "$KT_DIR/scored.ids") | head -n 1)" ]]
}
end=$((SECONDS + 90))
until complete; do
    if ((SECONDS >= end)); then
        kt_compare_ids "$KT_DIR/expected.ids" "$KT_DIR/scored.ids" # names the missing views
        kt_fail "timed out after 90 s waiting for all $N scores"
    fi
    sleep 1
done
kill -0 "$pid" 2>/dev/null || kt_fail "the engine exited before SIGTERM"
kill -TERM "$pid"
kt_wait_exit "$pid" 40 "the engine after SIGTERM"
kt_expect_eq "engine exit status after SIGTERM" "$KT_RC" 0
kt_expect_eq "summary status" "$(kt_str "$KT_DIR/summary.json" status)" ok

kt_compare_ids "$KT_DIR/expected.ids" "$KT_DIR/scored.ids"
kt_log_has "$KT_DIR/engine.log" "waiting for the brokers" ||
    kt_fail "the engine's stderr has no 'waiting for the brokers' warning during the outage"
kt_log "ok: every one of $N views scored across a ${OUTAGE} s outage; $KT_DUPS duplicate scores;" \
    "the engine warned: $(grep -m1 'waiting for the brokers' "$KT_DIR/engine.log" | cut -c 25-)"
