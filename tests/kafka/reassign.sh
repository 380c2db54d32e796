#!/usr/bin/env bash
# reassign.sh BIN — kafka_reassign: a partition taken away by a rebalance
# and given back resumes where this engine's state left it, not at the
# offsets of the checkpoint it started from.
#
# Engine A (state.dir) consumes N1 views and stops; restarted on the same
# state, it consumes N2 more. Engine B joins the group (cooperative-sticky:
# A hands over two of the four partitions, delivering and committing
# first), finds nothing new, idles out and leaves; A gets them back. Then
# N3 more views. A's second run must consume exactly N2 + N3 records (a
# build that resumed a returned partition at the startup checkpoint
# consumed its N2 views again, applying them twice to A's state), B none,
# and the scores topic holds one score per view.
source "$(dirname "$0")/lib.sh"
kt_init kafka_reassign "${1:-}"

in=$(kt_topic in)
scores=$(kt_topic scores)
group="sl-$KT_NAME-$KT_ID"
N1=4000
N2=6000
N3=3000
kt_config "$KT_DIR/a.json" "$group"
sed -i "1s|^{|{\"state\":{\"dir\":\"$KT_DIR/state-a\",\"checkpoint_interval_ms\":500},|" \
    "$KT_DIR/a.json"
kt_config "$KT_DIR/b.json" "$group"
sed -i "1s|^{|{\"state\":{\"dir\":\"$KT_DIR/state-b\",\"checkpoint_interval_ms\":500},|" \
    "$KT_DIR/b.json"
grep -q '"state"' "$KT_DIR/a.json" || kt_fail "could not add the state section"
kt_create_topic "$in"

kt_views 0 "$N1" >"$KT_DIR/in1.tsv"
kt_produce "$in" "$KT_DIR/in1.tsv"
kt_engine a1 --config "$KT_DIR/a.json" --until-idle 3 --summary "$KT_DIR/a1.json" --no-progress
kt_wait_exit "$KT_PID" 60 "A's first run (--until-idle 3)"
kt_expect_eq "A's first run: exit status" "$KT_RC" 0
kt_expect_eq "A's first run: records" "$(kt_num "$KT_DIR/a1.json" records)" "$N1"

kt_views "$N1" $((N1 + N2)) >"$KT_DIR/in2.tsv"
kt_produce "$in" "$KT_DIR/in2.tsv"
kt_engine a2 --config "$KT_DIR/a.json" --until-idle 30 --summary "$KT_DIR/a2.json" --no-progress
pid_a=$KT_PID
kt_wait_for 60 "A's second run to score the N2 views" kt_count_at_least "$scores" $((N1 + N2))

kt_engine b --config "$KT_DIR/b.json" --until-idle 4 --summary "$KT_DIR/b.json.out" --no-progress
pid_b=$KT_PID
kt_wait_for 60 "B to be assigned partitions" kt_log_has "$KT_DIR/b.log" "assigned $in\["
kt_wait_exit "$pid_b" 60 "B (--until-idle 4)"
kt_expect_eq "B: exit status" "$KT_RC" 0
kt_expect_eq "B: records" "$(kt_num "$KT_DIR/b.json.out" records)" 0
kt_wait_for 60 "A to get B's partitions back" \
    bash -c "[[ \$(grep -c 'assigned $in\[' '$KT_DIR/a2.log') -ge 2 ]]"
kill -0 "$pid_a" 2>/dev/null || kt_fail "A's second run exited before the partitions came back"

kt_views $((N1 + N2)) $((N1 + N2 + N3)) >"$KT_DIR/in3.tsv"
kt_produce "$in" "$KT_DIR/in3.tsv"
kt_wait_for 60 "every view scored" kt_count_at_least "$scores" $((N1 + N2 + N3))
kill -TERM "$pid_a"
kt_wait_exit "$pid_a" 60 "A's second run after SIGTERM"
kt_expect_eq "A's second run: exit status" "$KT_RC" 0
kt_expect_eq "A's second run: summary status" "$(kt_str "$KT_DIR/a2.json" status)" ok
kt_expect_eq "A's second run: records (nothing consumed twice)" \
    "$(kt_num "$KT_DIR/a2.json" records_this_run)" $((N2 + N3))
kt_expect_eq "scores: one per view" "$(kt_count "$scores")" $((N1 + N2 + N3))
kt_log "ok: $N2 + $N3 records in A's second run, partitions handed to B and back, no rework"
