# lib.sh — shared helpers of the integration tests in tests/kafka/, sourced by
# each of them. A test calls kt_init first: it skips (exit 77, CTest's
# SKIP_RETURN_CODE) when SL_KAFKA_BOOTSTRAP is unset, makes a private work
# directory (mktemp) and a unique id for topic and group names, and installs
# the EXIT trap that stops every process the test started, prints the tails
# of the engines' logs when the test failed and removes the work directory.
#
# Invariants: every wait has a timeout and fails the test with a message
# saying what it waited for; kcat is never called without `timeout`; a test
# only ever reads and writes its own topics (names carry $KT_ID).
#
# Input lines are "user<TAB>json" so that kcat -K '\t' keys each event by its
# user, as producers of the events topic do.

set -euo pipefail

KT_SKIP=77                  # CTest SKIP_RETURN_CODE of every test here
KT_PIDS=()                  # processes to stop on exit
KT_ON_EXIT=()               # extra cleanup commands (e.g. restart a node)
KT_T0=$SECONDS              # start of the test, for its timing

kt_log() { printf '[%s +%ds] %s\n' "$KT_NAME" $((SECONDS - KT_T0)) "$*" >&2; }

kt_fail() {
    printf '[%s +%ds] FAIL: %s\n' "$KT_NAME" $((SECONDS - KT_T0)) "$*" >&2
    exit 1
}

# kt_init NAME BIN [embedded]: checks the binary and the broker, sets KT_NAME,
# KT_BIN, KT_B (bootstrap), KT_DIR (work directory), KT_ID (unique suffix).
kt_init() {
    KT_NAME=$1
    KT_BIN=${2:-}
    [[ -n "$KT_BIN" && -x "$KT_BIN" ]] || kt_fail "usage: $0 PATH/TO/streamlearn (got '${KT_BIN}')"
    if [[ "${3:-}" != embedded ]]; then
        if [[ -z "${SL_KAFKA_BOOTSTRAP:-}" ]]; then
            echo "SKIP: $KT_NAME needs a real Kafka broker: run scripts/test.sh (make test), or" \
                "scripts/kafka.sh start && SL_KAFKA_BOOTSTRAP=\$(scripts/kafka.sh bootstrap) ctest -L kafka"
            exit $KT_SKIP
        fi
        command -v kcat >/dev/null || kt_fail "kcat is not installed (scripts/deps.sh installs it)"
        KT_B=$SL_KAFKA_BOOTSTRAP
    fi
    KT_DIR=$(mktemp -d "${TMPDIR:-/tmp}/sl-$KT_NAME.XXXXXX")
    KT_ID="$$-$RANDOM"
    trap kt_cleanup EXIT
    trap 'kt_fail "interrupted"' INT TERM
    trap 'kt_log "FAIL: status $? from line $LINENO: $BASH_COMMAND"' ERR
}

kt_cleanup() {
    local rc=$? pid i
    trap - EXIT INT TERM ERR
    for pid in "${KT_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${KT_PIDS[@]}"; do
        for ((i = 0; i < 50; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.2
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    for i in "${KT_ON_EXIT[@]}"; do
        eval "$i" || true
    done
    if ((rc != 0 && rc != KT_SKIP)); then
        for i in "$KT_DIR"/*.log; do
            [[ -f "$i" ]] || continue
            echo "---- last lines of $(basename "$i")" >&2
            tail -n 25 "$i" | tr '\r' '\n' | tail -n 25 >&2
        done
    fi
    if [[ -n "${SL_KEEP_TMP:-}" ]]; then
        echo "work directory kept: $KT_DIR" >&2
    else
        rm -rf "$KT_DIR"
    fi
    if ((rc == 0)); then
        kt_log "PASS in $((SECONDS - KT_T0)) s"
    fi
    exit "$rc"
}

# kt_topic ROLE: this test's topic for ROLE (in, scores, deadletter, ...).
kt_topic() { printf 'sl-%s-%s-%s' "$KT_NAME" "$KT_ID" "$1"; }

# The models of the plumbing tests: one per surface, so every view gets
# exactly one score record.
KT_MODELS='"models":{"click":{"kind":"ftrl_lr","surface":"ads"}}'

# kt_config FILE GROUP [EXTRA]: a config whose every sink is this test's own
# topic; EXTRA is more JSON members for "kafka" (e.g. "producer":{...}).
kt_config() {
    local file=$1 group=$2 extra=${3:-}
    cat >"$file" <<EOF
{"kafka":{"group_id":"$group","input_topics":["$(kt_topic in)"],
 "scores_topic":"$(kt_topic scores)","deadletter_topic":"$(kt_topic deadletter)",
 "examples_topic":"$(kt_topic examples)","metrics_topic":"$(kt_topic metrics)",
 "snapshots_topic":"$(kt_topic snapshots)"${extra:+,$extra}},
 $KT_MODELS}
EOF
}

# kt_views FROM TO: views FROM..TO-1 as "user<TAB>json" lines, view_id v<i>.
kt_views() {
    awk -v a="$1" -v b="$2" 'BEGIN {
        for (i = a; i < b; i++)
            printf "u%d\t{\"type\":\"view\",\"ts\":%.0f,\"user\":\"u%d\",\"surface\":\"ads\",\"item\":\"a%d\",\"view_id\":\"v%d\"}\n",
                i % 100, 1767225600000 + i, i % 100, i % 7, i
    }'
}

# kt_views_paced FROM TO PER_S: the same, at about PER_S lines a second (a
# live source), flushed as it goes.
kt_views_paced() {
    awk -v a="$1" -v b="$2" -v r="$3" 'BEGIN {
        step = int(r / 10); if (step < 1) step = 1
        for (i = a; i < b; i++) {
            printf "u%d\t{\"type\":\"view\",\"ts\":%.0f,\"user\":\"u%d\",\"surface\":\"ads\",\"item\":\"a%d\",\"view_id\":\"v%d\"}\n",
                i % 100, 1767225600000 + i, i % 100, i % 7, i
            if ((i - a + 1) % step == 0) { fflush(); system("sleep 0.1") }
        }
    }'
}

# kt_ids FILE: the sorted view_ids of the records (JSON lines or TSV) in FILE.
kt_ids() { grep -ao '"view_id":"[^"]*"' "$1" | cut -d'"' -f4 | LC_ALL=C sort; }

# kt_produce TOPIC FILE: produces FILE's "key<TAB>value" lines, keyed.
kt_produce() {
    timeout 120 kcat -P -K '\t' -b "$KT_B" -t "$1" -X topic.message.timeout.ms=60000 <"$2" ||
        kt_fail "kcat could not produce $2 into $1"
}

# kt_create_topic TOPIC: makes the broker auto-create TOPIC (a metadata
# request does) and waits until it has partitions, so that an engine
# subscribing to it finds it at once.
kt_create_topic() {
    timeout 20 kcat -L -b "$KT_B" -t "$1" >/dev/null 2>&1 || true
    kt_wait_for 30 "topic $1 to exist" kt_has_partitions "$1"
}

kt_partitions() {
    timeout 20 kcat -L -b "$KT_B" -t "$1" 2>/dev/null |
        awk '/^ *topic ".*" with [0-9]+ partitions/ { print $4; exit }'
}

kt_has_partitions() { local n; n=$(kt_partitions "$1"); [[ "${n:-0}" -gt 0 ]]; }

# kt_count TOPIC: messages in TOPIC (sum of the partitions' end offsets; our
# producers are idempotent, not transactional, so no control records). 0 when
# the topic does not exist yet. Cheap: no message is read.
kt_count() {
    local n p args=()
    n=$(kt_partitions "$1")
    [[ "${n:-0}" -gt 0 ]] || { echo 0; return 0; }
    for ((p = 0; p < n; p++)); do args+=(-t "$1:$p:-1"); done
    timeout 20 kcat -Q -b "$KT_B" "${args[@]}" 2>/dev/null |
        awk '/ offset -?[0-9]+/ { if ($NF > 0) s += $NF } END { print s + 0 }'
}

# kt_consume TOPIC [FORMAT]: every message of TOPIC from the beginning to its
# current end, one per line (kcat -f FORMAT, default the value).
kt_consume() {
    local n
    n=$(kt_partitions "$1")
    [[ "${n:-0}" -gt 0 ]] || return 0
    timeout 60 kcat -C -e -q -o beginning -b "$KT_B" -t "$1" -f "${2:-%s\n}" ||
        kt_fail "kcat could not read $1 to its end within 60 s"
}

# kt_wait_for SECS WHAT CMD...: runs CMD every 0.2 s until it succeeds.
kt_wait_for() {
    local secs=$1 what=$2 end
    shift 2
    end=$((SECONDS + secs))
    until "$@"; do
        ((SECONDS < end)) || kt_fail "timed out after ${secs} s waiting for $what"
        sleep 0.2
    done
}

# kt_count_at_least TOPIC N: for kt_wait_for.
kt_count_at_least() { local c; c=$(kt_count "$1"); [[ "$c" -ge "$2" ]]; }

# kt_engine NAME ARGS...: starts `streamlearn run --brokers $KT_B ARGS` in the
# background, stderr to $KT_DIR/NAME.log; its pid in KT_PID.
kt_engine() {
    local name=$1
    shift
    "$KT_BIN" run ${KT_B:+--brokers "$KT_B"} "$@" >"$KT_DIR/$name.out" 2>"$KT_DIR/$name.log" &
    KT_PID=$!
    KT_PIDS+=("$KT_PID")
    kt_log "started engine $name (pid $KT_PID): streamlearn run $*"
}

# kt_wait_exit PID SECS WHAT: waits for PID to exit; its status in KT_RC.
kt_wait_exit() {
    local pid=$1 secs=$2 what=$3 end
    end=$((SECONDS + secs))
    while kill -0 "$pid" 2>/dev/null; do
        ((SECONDS < end)) || kt_fail "$what did not exit within ${secs} s"
        sleep 0.2
    done
    KT_RC=0
    wait "$pid" || KT_RC=$?
}

# kt_log_has FILE ERE: the log FILE has a line matching ERE.
kt_log_has() { grep -Eq -- "$2" "$1" 2>/dev/null; }

# kt_num SUMMARY KEY / kt_str SUMMARY KEY: a top-level field of a summary.
kt_num() {
    local v
    v=$(sed -n "s/^ *\"$2\": *\(-\{0,1\}[0-9][0-9]*\).*/\1/p" "$1" | head -n 1)
    [[ -n "$v" ]] || kt_fail "$1 has no numeric \"$2\": $(tr '\n' ' ' <"$1")"
    echo "$v"
}
kt_str() { sed -n "s/^ *\"$2\": *\"\([^\"]*\)\".*/\1/p" "$1" | head -n 1; }

# kt_expect_eq WHAT ACTUAL EXPECTED
kt_expect_eq() { [[ "$2" == "$3" ]] || kt_fail "$1: expected $3, got $2"; }

# kt_compare_ids EXPECTED ACTUAL: sorted id lists (ACTUAL may repeat ids).
# Fails naming the first missing or unexpected ids; sets KT_DUPS to the
# number of repeated records in ACTUAL.
kt_compare_ids() {
    local exp=$1 act=$2 missing extra uniq
    uniq=$(mktemp "$KT_DIR/uniq.XXXXXX")
    LC_ALL=C uniq "$act" >"$uniq"
    missing=$(LC_ALL=C comm -23 "$exp" "$uniq" | wc -l)
    extra=$(LC_ALL=C comm -13 "$exp" "$uniq" | wc -l)
    KT_DUPS=$(($(wc -l <"$act") - $(wc -l <"$uniq")))
    if ((missing > 0)); then
        kt_fail "$missing of $(wc -l <"$exp") view_ids never scored (lost), e.g.:" \
            "$(LC_ALL=C comm -23 "$exp" "$uniq" | head -n 5 | tr '\n' ' ')"
    fi
    if ((extra > 0)); then
        kt_fail "$extra scored view_ids were never produced, e.g.:" \
            "$(LC_ALL=C comm -13 "$exp" "$uniq" | head -n 5 | tr '\n' ' ')"
    fi
}
