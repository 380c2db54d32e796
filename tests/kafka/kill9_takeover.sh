#!/usr/bin/env bash
# kill9_takeover.sh BIN — kafka_kill9_takeover: two engines share a group on a
# 4-partition topic fed live; engine A is killed with SIGKILL mid-stream,
# while it holds consumed-but-undelivered work; B must take A's partitions
# over once A's session times out (10 s), resume from A's last committed
# offsets and finish. Every view must be scored at least once (duplicates
# are the price of at-least-once and are reported), and B exits 0.
#
# Why the input is fed live and the producer lingers: a pre-filled topic is
# consumed in about a second, too fast to kill A at a chosen point. Feeding
# RATE views/s makes "mid-stream" deterministic. linger.ms=2000 makes every
# output wait up to 2 s before delivery, longer than the 1 s auto-commit
# interval, so at the kill A always has outputs in flight: an engine that
# stored offsets before delivery would have committed some of them, and
# their views would be missing here.
source "$(dirname "$0")/lib.sh"
kt_init kafka_kill9_takeover "${1:-}"

N=${SL_KILL9_N:-120000}
RATE=10000
in=$(kt_topic in)
group="sl-$KT_NAME-$KT_ID"

kt_create_topic "$in"
parts=$(kt_partitions "$in")
((parts >= 2)) || kt_fail "$in has $parts partition(s); two engines need at least 2"
kt_config "$KT_DIR/config.json" "$group" \
    '"producer":{"linger.ms":"2000","batch.num.messages":"100000"}'
kt_views 0 "$N" >"$KT_DIR/views.tsv"
kt_ids "$KT_DIR/views.tsv" >"$KT_DIR/expected.ids"

# A first, then B: B's join makes A hand over half of its partitions.
kt_engine A --config "$KT_DIR/config.json" --until-idle 60 --summary "$KT_DIR/A.json" --no-progress
pid_a=$KT_PID
kt_wait_for 30 "engine A to be assigned partitions" kt_log_has "$KT_DIR/A.log" "assigned $in\["
kt_engine B --config "$KT_DIR/config.json" --until-idle 15 --summary "$KT_DIR/B.json" --no-progress
pid_b=$KT_PID
kt_wait_for 30 "engine B to be assigned partitions" kt_log_has "$KT_DIR/B.log" "assigned $in\["

# The live source: N views at about RATE/s, keyed by user.
timeout 120 kcat -P -K '\t' -b "$KT_B" -t "$in" < <(kt_views_paced 0 "$N" "$RATE") &
pid_feed=$!
KT_PIDS+=("$pid_feed")
kt_log "feeding $N views into $in at about $RATE/s"

# Kill A once both engines have been scoring for a while (A committed some
# offsets) and well before the end of the feed.
scores=$(kt_topic scores)
kt_wait_for 60 "40% of the scores" kt_count_at_least "$scores" $((N * 4 / 10))
at_kill=$(kt_count "$scores")
((at_kill < N * 9 / 10)) || kt_fail "already $at_kill of $N scores before the kill: too fast to test a takeover"
# The count grows in steps, one per linger period, so the wait above ends
# just after a delivery; 1.2 s more puts about that much consumed, processed
# and still undelivered work in A, with an auto-commit (1 s) in between.
sleep 1.2
kill -0 "$pid_a" 2>/dev/null || kt_fail "engine A exited before the kill"
kill -KILL "$pid_a"
kt_wait_exit "$pid_a" 10 "engine A after SIGKILL"
kt_log "killed engine A with SIGKILL at $at_kill of $N scores"

kt_wait_exit "$pid_feed" 60 "the feed"
kt_expect_eq "kcat feeding the input (exit status)" "$KT_RC" 0
kt_expect_eq "messages in the input topic" "$(kt_count "$in")" "$N"

# B: A's session expires after 10 s, B gets A's partitions, finishes, and
# stops 15 s after its last input.
kt_wait_exit "$pid_b" 90 "engine B (--until-idle 15)"
kt_expect_eq "engine B exit status" "$KT_RC" 0
kt_expect_eq "engine B summary status" "$(kt_str "$KT_DIR/B.json" status)" ok
b_records=$(kt_num "$KT_DIR/B.json" records)
# B started with half of the partitions; after the kill it must have had all.
b_parts=$(grep ' assigned ' "$KT_DIR/B.log" | grep -o "$in\[[0-9]*\]" | sort -u | wc -l)
kt_expect_eq "partitions of $in ever assigned to engine B (it took A's over)" "$b_parts" "$parts"

kt_consume "$scores" >"$KT_DIR/scores.jsonl"
kt_ids "$KT_DIR/scores.jsonl" >"$KT_DIR/scored.ids"
kt_compare_ids "$KT_DIR/expected.ids" "$KT_DIR/scored.ids"
# B consumed less than everything: it resumed from A's committed offsets.
((b_records < N)) || kt_fail "engine B consumed $b_records records, all of them: A's committed progress was not used"
kt_log "ok: every one of $N views scored; $KT_DUPS duplicate scores (A's uncommitted work," \
    "redone by B); B consumed $b_records records and exited 0"
