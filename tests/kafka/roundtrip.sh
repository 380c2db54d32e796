#!/usr/bin/env bash
# roundtrip.sh BIN — kafka_roundtrip: N views and 25 poison messages of every
# kind (bad JSON, wrong types, unknown type, invalid UTF-8, empty, ...) spread
# among them go through a real broker and the engine; exactly one score per
# view comes out, exactly one dead letter per poison message, each dead letter
# names the real topic/partition/offset of its message, and the stream goes on
# past every poison message.
source "$(dirname "$0")/lib.sh"
kt_init kafka_roundtrip "${1:-}"

N=20000
POISON=25
in=$(kt_topic in)

# poison J: one message of kind J % 13, keyed poisonJ, carrying the marker
# pzJ~ (except the empty one) so its dead letter can be matched to it.
poison() {
    local j=$1 m="pz$1~" v='{"type":"view","ts":1767225600000,"user":"u1","surface":"ads","item":"a1"'
    case $((j % 13)) in
    0) printf '%s,"view_id":"%s' "$v" "$m" ;;                 # truncated JSON
    1) printf 'not json at all %s' "$m" ;;                    # not JSON
    2) printf '{"type":"view","ts":"%s","user":"u1","surface":"ads","item":"a1","view_id":"x"}' "$m" ;;
    3) printf '{"type":"view","ts":1767225600000,"user":3,"surface":"ads","item":"a1","view_id":"%s"}' "$m" ;;
    4) printf '{"type":"hover","ts":1767225600000,"user":"u1","item":"a1","view_id":"%s"}' "$m" ;;
    5) printf '%s,"view_id":"%s","ctx":{"device":"\xff\xfe"}}' "$v" "$m" ;; # invalid UTF-8
    6) printf '["%s"]' "$m" ;;                                 # not an object
    7) printf '%s,"%s":1}' "$v" "$m" ;;                        # view_id missing
    8) printf '%s,"user":"u2","view_id":"%s"}' "$v" "$m" ;;    # duplicate key
    9) printf '{"type":"view","ts":1767225600000,"user":"u1","surface":"tv","item":"a1","view_id":"%s"}' "$m" ;;
    10) printf '{"type":"view","ts":1.7e12,"user":"u1","surface":"ads","item":"a1","view_id":"%s"}' "$m" ;;
    11) printf '{"type":"view","ts":1767225600000,"user":"","surface":"ads","item":"a1","view_id":"%s"}' "$m" ;;
    12) ;;                                                     # empty message
    esac
}

# The input: views with a poison message after every N/(POISON+1) of them,
# views last, so that every poison message has views behind it.
{
    prev=0
    for ((j = 0; j < POISON; j++)); do
        next=$(((j + 1) * N / (POISON + 1)))
        kt_views "$prev" "$next"
        printf 'poison%d\t' "$j"
        poison "$j"
        printf '\n'
        prev=$next
    done
    kt_views "$prev" "$N"
} >"$KT_DIR/input.tsv"
kt_views 0 "$N" >"$KT_DIR/views.tsv"
kt_ids "$KT_DIR/views.tsv" >"$KT_DIR/expected.ids"

kt_produce "$in" "$KT_DIR/input.tsv"
kt_expect_eq "messages in the input topic $in" "$(kt_count "$in")" $((N + POISON))
kt_log "produced $N views and $POISON poison messages into $in"

kt_config "$KT_DIR/config.json" "sl-$KT_NAME-$KT_ID"
kt_engine engine --config "$KT_DIR/config.json" --until-idle 3 --summary "$KT_DIR/summary.json" --no-progress
kt_wait_exit "$KT_PID" 90 "the engine (--until-idle 3)"
kt_expect_eq "engine exit status" "$KT_RC" 0

s=$KT_DIR/summary.json
kt_expect_eq "summary status" "$(kt_str "$s" status)" ok
kt_expect_eq "summary records" "$(kt_num "$s" records)" $((N + POISON))
kt_expect_eq "summary events" "$(kt_num "$s" events)" "$N"
kt_expect_eq "summary dead_letters" "$(kt_num "$s" dead_letters)" "$POISON"
kt_expect_eq "summary outputs" "$(kt_num "$s" outputs)" $((N + POISON))

# Scores: exactly N, and the very set of view_ids produced.
kt_consume "$(kt_topic scores)" >"$KT_DIR/scores.jsonl"
kt_expect_eq "score records in $(kt_topic scores)" "$(wc -l <"$KT_DIR/scores.jsonl")" "$N"
kt_ids "$KT_DIR/scores.jsonl" >"$KT_DIR/scored.ids"
kt_compare_ids "$KT_DIR/expected.ids" "$KT_DIR/scored.ids"
kt_expect_eq "duplicate scores" "$KT_DUPS" 0

# Dead letters: exactly one per poison message, at its real coordinates.
# The input topic as kcat sees it: "partition offset key" per message.
kt_consume "$in" '%p %o %k\n' >"$KT_DIR/input.coords"
grep ' poison[0-9]*$' "$KT_DIR/input.coords" |
    awk '{ sub(/^poison/, "", $3); print $1, $2, ($3 % 13 == 12 ? "-" : "pz" $3 "~") }' |
    LC_ALL=C sort >"$KT_DIR/expected.dl"
kt_expect_eq "poison messages found in the input topic" "$(wc -l <"$KT_DIR/expected.dl")" "$POISON"

kt_consume "$(kt_topic deadletter)" >"$KT_DIR/deadletters.jsonl"
kt_expect_eq "dead letters in $(kt_topic deadletter)" "$(wc -l <"$KT_DIR/deadletters.jsonl")" "$POISON"
bad_topic=$(grep -avc "^{\"topic\":\"$in\",\"partition\":[0-9]*,\"offset\":[0-9]*," "$KT_DIR/deadletters.jsonl" || true)
kt_expect_eq "dead letters not naming topic $in with a partition and an offset" "$bad_topic" 0
# "partition offset marker" of each dead letter; the marker is in its raw.
LC_ALL=C awk '{
    match($0, /"partition":[0-9]+/); p = substr($0, RSTART + 12, RLENGTH - 12)
    match($0, /"offset":[0-9]+/); o = substr($0, RSTART + 9, RLENGTH - 9)
    mk = "-"; if (match($0, /pz[0-9]+~/)) mk = substr($0, RSTART, RLENGTH)
    print p, o, mk
}' "$KT_DIR/deadletters.jsonl" | LC_ALL=C sort >"$KT_DIR/actual.dl"
if ! diff -u "$KT_DIR/expected.dl" "$KT_DIR/actual.dl" >"$KT_DIR/dl.diff"; then
    kt_fail "dead letters do not carry the coordinates of their poison messages" \
        "(- expected 'partition offset marker', + dead letters):
$(cat "$KT_DIR/dl.diff")"
fi
grep -q '"reason":"empty"' "$KT_DIR/deadletters.jsonl" || kt_fail "no dead letter with reason empty"
grep -q '"reason":"bad_utf8".*"raw_base64"' "$KT_DIR/deadletters.jsonl" ||
    kt_fail "the invalid UTF-8 message's dead letter has no reason bad_utf8 with raw_base64"

# The stream went on: in every partition, the views after its last poison
# message were scored (implied by the set check; counted to say so).
after=$(awk 'NR == FNR { if ($3 ~ /^poison/ && $2 > last[$1]) last[$1] = $2; next }
             ($3 !~ /^poison/) && ($1 in last) && $2 > last[$1] { n++ }
             END { print n + 0 }' "$KT_DIR/input.coords" "$KT_DIR/input.coords")
((after > 0)) || kt_fail "no view follows a poison message in its partition: the test input is wrong"
kt_log "ok: $N scores (the produced view_ids, no duplicates), $POISON dead letters at their" \
    "messages' coordinates, $after views behind the last poison message of their partition scored"
