#!/usr/bin/env bash
# state_kill9.sh BIN — kafka_state_kill9: one engine with a state directory,
# fed live, killed with SIGKILL mid-stream and restarted on the same state.
# The restart resumes each partition at the offsets of the last checkpoint
# (state first, then offsets: the state and the resume point agree), every
# view is scored at least once, and the second run consumes less than the
# whole input (it did not start over).
#
# linger.ms=2000 keeps outputs undelivered for longer than a checkpoint
# interval, so at the kill there is always consumed work whose outputs and
# offsets are not safe yet; an engine that checkpointed or committed before
# delivering would lose views here.
source "$(dirname "$0")/lib.sh"
kt_init kafka_state_kill9 "${1:-}"

N=${SL_STATE_KILL9_N:-60000}
RATE=10000
in=$(kt_topic in)
group="sl-$KT_NAME-$KT_ID"

kt_create_topic "$in"
kt_config "$KT_DIR/config.json" "$group" \
    '"producer":{"linger.ms":"2000","batch.num.messages":"100000"}'
# Add the state section: a private directory, frequent checkpoints.
sed -i "1s|^{|{\"state\":{\"dir\":\"$KT_DIR/state\",\"checkpoint_interval_ms\":500},|" \
    "$KT_DIR/config.json"
grep -q '"state"' "$KT_DIR/config.json" || kt_fail "could not add the state section"
kt_views 0 "$N" >"$KT_DIR/views.tsv"
kt_ids "$KT_DIR/views.tsv" >"$KT_DIR/expected.ids"

kt_engine A --config "$KT_DIR/config.json" --until-idle 60 --summary "$KT_DIR/A.json" --no-progress
pid_a=$KT_PID
kt_wait_for 30 "engine A to be assigned partitions" kt_log_has "$KT_DIR/A.log" "assigned $in\["

timeout 120 kcat -P -K '\t' -b "$KT_B" -t "$in" < <(kt_views_paced 0 "$N" "$RATE") &
pid_feed=$!
KT_PIDS+=("$pid_feed")

scores=$(kt_topic scores)
kt_wait_for 60 "30% of the scores" kt_count_at_least "$scores" $((N * 3 / 10))
sleep 1.2
kill -0 "$pid_a" 2>/dev/null || kt_fail "engine A exited before the kill"
kill -KILL "$pid_a"
kt_wait_exit "$pid_a" 10 "engine A after SIGKILL"
at_kill=$(kt_count "$scores")
kt_log "killed engine A with SIGKILL at $at_kill of $N scores"
kt_wait_exit "$pid_feed" 60 "the feed"

# The restart: same state, same group.
kt_engine B --config "$KT_DIR/config.json" --until-idle 8 --summary "$KT_DIR/B.json" --no-progress
pid_b=$KT_PID
kt_wait_exit "$pid_b" 120 "engine B (--until-idle 8)"
kt_expect_eq "engine B exit status" "$KT_RC" 0
kt_expect_eq "engine B summary status" "$(kt_str "$KT_DIR/B.json" status)" ok
kt_log_has "$KT_DIR/B.log" "resumes at offset [0-9]+, where this state left it" ||
    kt_fail "engine B did not resume from the checkpoint's offsets"
b_records=$(kt_num "$KT_DIR/B.json" records_this_run)
((b_records < N)) || kt_fail "engine B consumed $b_records records: it started over"
# The graph's counters are part of the state: after the restart they cover
# the whole stream, not just B's share.
b_total=$(kt_num "$KT_DIR/B.json" records)
((b_total >= N)) || kt_fail "engine B's counters say $b_total records: the checkpointed counts were lost"

kt_consume "$scores" >"$KT_DIR/scores.jsonl"
kt_ids "$KT_DIR/scores.jsonl" >"$KT_DIR/scored.ids"
kt_compare_ids "$KT_DIR/expected.ids" "$KT_DIR/scored.ids"
kt_log "ok: every one of $N views scored; B consumed $b_records; $KT_DUPS duplicate scores"
