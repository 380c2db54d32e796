#!/usr/bin/env bash
# graceful_restart.sh BIN idle|sigterm — the engine resumes from the offsets
# it committed when it stopped gracefully.
#
# idle (kafka_graceful_restart): N1 views, a run until idle (exit 0), N2 more
#   views, a second run: it consumes exactly N2 records and the scores topic
#   holds exactly N1+N2 scores, one per view: nothing redone, nothing lost.
# sigterm (kafka_graceful_restart_sigterm): the first run gets SIGTERM
#   mid-stream, while views are still arriving and outputs are in flight (a
#   lingering producer, as in kill9_takeover.sh). It must deliver every
#   output of what it consumed, commit and exit 0; the second run finishes:
#   every view scored at least once; duplicates are reported and must stay
#   within the ring's window (64 batches of engine.batch_size).
source "$(dirname "$0")/lib.sh"
mode=${2:-idle}
case $mode in
idle) kt_init kafka_graceful_restart "${1:-}" ;;
sigterm) kt_init kafka_graceful_restart_sigterm "${1:-}" ;;
*) KT_NAME=graceful_restart kt_fail "unknown mode '$mode' (idle or sigterm)" ;;
esac

in=$(kt_topic in)
scores=$(kt_topic scores)
group="sl-$KT_NAME-$KT_ID"
BATCH=256 # a small batch so that the ring's window (64 batches) means something
WINDOW=$((64 * BATCH))

if [[ $mode == idle ]]; then
    N1=20000
    N2=15000
    kt_config "$KT_DIR/config.json" "$group"
    kt_views 0 "$N1" >"$KT_DIR/in1.tsv"
    kt_produce "$in" "$KT_DIR/in1.tsv"
    kt_engine run1 --config "$KT_DIR/config.json" --until-idle 3 --summary "$KT_DIR/run1.json" --no-progress
    kt_wait_exit "$KT_PID" 60 "the first run (--until-idle 3)"
    kt_expect_eq "first run exit status" "$KT_RC" 0
    kt_expect_eq "first run: records" "$(kt_num "$KT_DIR/run1.json" records)" "$N1"
    kt_expect_eq "first run: outputs delivered" "$(kt_num "$KT_DIR/run1.json" outputs)" "$N1"
else
    N1=100000
    N2=15000
    RATE=10000
    kt_config "$KT_DIR/config.json" "$group" '"producer":{"linger.ms":"2000","batch.num.messages":"100000"}'
    sed -i "s/^{/{\"engine\":{\"batch_size\":$BATCH},/" "$KT_DIR/config.json"
    kt_create_topic "$in"
    kt_engine run1 --config "$KT_DIR/config.json" --until-idle 60 --summary "$KT_DIR/run1.json" --no-progress
    pid1=$KT_PID
    kt_wait_for 30 "the first run to be assigned partitions" kt_log_has "$KT_DIR/run1.log" "assigned $in\["
    timeout 60 kcat -P -K '\t' -b "$KT_B" -t "$in" < <(kt_views_paced 0 "$N1" "$RATE") &
    pid_feed=$!
    KT_PIDS+=("$pid_feed")
    kt_log "feeding $N1 views into $in at about $RATE/s"
    kt_wait_for 60 "30% of the first views' scores" kt_count_at_least "$scores" $((N1 * 3 / 10))
    sleep 1.2 # just after a (lingered) delivery: put undelivered outputs in flight
    kill -0 "$pid1" 2>/dev/null || kt_fail "the first run exited before SIGTERM"
    kill -TERM "$pid1"
    kt_log "SIGTERM to the first run at $(kt_count "$scores") scores"
    kt_wait_exit "$pid1" 40 "the first run after SIGTERM"
    kt_expect_eq "first run exit status after SIGTERM" "$KT_RC" 0
    r1=$(kt_num "$KT_DIR/run1.json" records)
    ((r1 < N1)) || kt_fail "the first run consumed all $N1 views before SIGTERM: not mid-stream"
    kt_expect_eq "first run: outputs delivered (of its $r1 records) after SIGTERM" \
        "$(kt_num "$KT_DIR/run1.json" outputs)" "$r1"
    kt_log_has "$KT_DIR/run1.log" "batches not delivered" &&
        kt_fail "the first run stopped with batches not delivered: $(grep 'not delivered' "$KT_DIR/run1.log")"
    kt_wait_exit "$pid_feed" 60 "the feed"
    kt_expect_eq "kcat feeding the input (exit status)" "$KT_RC" 0
fi
kt_expect_eq "the first run's summary status" "$(kt_str "$KT_DIR/run1.json" status)" ok
r1=$(kt_num "$KT_DIR/run1.json" records)

kt_views "$N1" $((N1 + N2)) >"$KT_DIR/in2.tsv"
kt_produce "$in" "$KT_DIR/in2.tsv"
kt_expect_eq "messages in the input topic" "$(kt_count "$in")" $((N1 + N2))
kt_engine run2 --config "$KT_DIR/config.json" --until-idle 3 --summary "$KT_DIR/run2.json" --no-progress
kt_wait_exit "$KT_PID" 60 "the second run (--until-idle 3)"
kt_expect_eq "second run exit status" "$KT_RC" 0
kt_expect_eq "the second run's summary status" "$(kt_str "$KT_DIR/run2.json" status)" ok
r2=$(kt_num "$KT_DIR/run2.json" records)

kt_views 0 $((N1 + N2)) >"$KT_DIR/views.tsv"
kt_ids "$KT_DIR/views.tsv" >"$KT_DIR/expected.ids"
kt_consume "$scores" >"$KT_DIR/scores.jsonl"
total=$(wc -l <"$KT_DIR/scores.jsonl")
kt_ids "$KT_DIR/scores.jsonl" >"$KT_DIR/scored.ids"
kt_compare_ids "$KT_DIR/expected.ids" "$KT_DIR/scored.ids"
# Every delivered output is in the topic, and nothing else is.
kt_expect_eq "scores in the topic vs. outputs the two runs delivered" "$total" \
    $(($(kt_num "$KT_DIR/run1.json" outputs) + $(kt_num "$KT_DIR/run2.json" outputs)))

if [[ $mode == idle ]]; then
    kt_expect_eq "second run: records (it must resume from the committed offsets)" "$r2" "$N2"
    kt_expect_eq "scores in $scores" "$total" $((N1 + N2))
    kt_expect_eq "duplicate scores" "$KT_DUPS" 0
    kt_log "ok: run 1 consumed $r1, run 2 resumed and consumed exactly $r2; $total scores, one per view"
else
    ((KT_DUPS <= WINDOW)) ||
        kt_fail "$KT_DUPS duplicate scores after a graceful stop, more than the ring's window ($WINDOW)"
    kt_log "ok: SIGTERM after $r1 of $N1 records, exit 0; run 2 consumed $r2; every one of" \
        "$((N1 + N2)) views scored; $KT_DUPS duplicate scores (window $WINDOW)"
fi
