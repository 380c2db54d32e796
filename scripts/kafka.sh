#!/usr/bin/env bash
# scripts/kafka.sh - run a real Apache Kafka 4.x cluster (KRaft mode, no
# ZooKeeper, no docker) on 127.0.0.1 for streamlearn's integration tests.
#
# The broker jars (org.apache.kafka:kafka_2.13 and all of its runtime
# dependencies) are fetched from Maven Central with `mvn` on first use and
# cached outside the repository in
#   ${STREAMLEARN_CACHE:-$HOME/.cache/streamlearn}/kafka-<version>/libs
# Every node is a combined broker+controller (process.roles=broker,controller)
# with a static controller quorum of all nodes, listening on free loopback
# ports. Configs, data, logs and pid files live in the run directory
#   ${STREAMLEARN_KAFKA_DIR:-/tmp/streamlearn-kafka}
# and the bootstrap string (host:port,...) is written to $RUN_DIR/bootstrap.
#
# Usage:
#   scripts/kafka.sh start [--brokers N]  start an N-node cluster (default 1)
#   scripts/kafka.sh stop                 stop every node, remove the run dir
#   scripts/kafka.sh status               print state; exit 0 running, 3 not
#   scripts/kafka.sh bootstrap            print the bootstrap servers
#   scripts/kafka.sh stop-node I          stop node I (1-based), keep its data
#   scripts/kafka.sh start-node I         start node I again on the same ports
#
# Environment:
#   STREAMLEARN_KAFKA_VERSION   Kafka version to fetch (default 4.1.1)
#   STREAMLEARN_CACHE           cache root (default $HOME/.cache/streamlearn)
#   STREAMLEARN_KAFKA_DIR       run directory (default /tmp/streamlearn-kafka)
#   STREAMLEARN_KAFKA_HEAP      JVM heap options per node
#                               (default "-Xmx512m -Xms256m")
#   STREAMLEARN_KAFKA_TIMEOUT   seconds `start`/`start-node` wait (default 60)
#   JAVA_HOME                   Java 17+ to use (default: java on PATH)

set -euo pipefail

readonly KAFKA_VERSION="${STREAMLEARN_KAFKA_VERSION:-4.1.1}"
readonly SCALA_VERSION="2.13"
readonly LOG4J_VERSION="2.24.3" # the log4j2 release Kafka 4.1 is built with
readonly CACHE_ROOT="${STREAMLEARN_CACHE:-$HOME/.cache/streamlearn}"
readonly KAFKA_HOME="$CACHE_ROOT/kafka-$KAFKA_VERSION"
readonly LIBS="$KAFKA_HOME/libs"
readonly RUN_DIR="${STREAMLEARN_KAFKA_DIR:-/tmp/streamlearn-kafka}"
readonly HEAP_OPTS="${STREAMLEARN_KAFKA_HEAP:--Xmx512m -Xms256m}"
readonly START_TIMEOUT="${STREAMLEARN_KAFKA_TIMEOUT:-60}"
readonly STOP_TIMEOUT=30
readonly MARKER="$RUN_DIR/.streamlearn-kafka"
readonly HOST="127.0.0.1"

PROG="$(basename "$0")"
readonly PROG

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() {
    printf '%s: error: %s\n' "$PROG" "$*" >&2
    exit 1
}

usage() {
    cat >&2 <<EOF
usage: $PROG start [--brokers N] | stop | status | bootstrap
       $PROG stop-node I | start-node I
EOF
    exit 2
}

# ---------------------------------------------------------------- helpers

java_bin() {
    if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then
        printf '%s\n' "$JAVA_HOME/bin/java"
    elif command -v java >/dev/null 2>&1; then
        command -v java
    else
        die "java not found (Kafka $KAFKA_VERSION needs Java 17+); set JAVA_HOME or install a JDK"
    fi
}

check_java() {
    local java ver major
    java="$(java_bin)"
    ver="$("$java" -version 2>&1 | awk -F'"' '/version/ {print $2; exit}')"
    major="${ver%%.*}"
    [[ "$major" == 1 ]] && major="$(cut -d. -f2 <<<"$ver")"
    if [[ ! "$major" =~ ^[0-9]+$ ]] || ((major < 17)); then
        die "Kafka $KAFKA_VERSION needs Java 17+, but $java is version '${ver:-unknown}'"
    fi
}

kcat_bin() {
    local c
    for c in kcat kafkacat; do
        if command -v "$c" >/dev/null 2>&1; then
            command -v "$c"
            return 0
        fi
    done
    return 1
}

# Fetch kafka_2.13:<version> and its runtime dependencies into $LIBS, unless
# a complete copy is cached. Downloads go to a temporary dir first and are
# moved into place, so an interrupted fetch never leaves a half-filled cache.
fetch_kafka() {
    if [[ -f "$KAFKA_HOME/.complete" && -f "$LIBS/kafka_${SCALA_VERSION}-${KAFKA_VERSION}.jar" ]]; then
        return 0
    fi
    command -v mvn >/dev/null 2>&1 || die "mvn not found: it is needed once to fetch Kafka $KAFKA_VERSION into $KAFKA_HOME"
    mkdir -p "$KAFKA_HOME"
    local tmp
    tmp="$(mktemp -d "$KAFKA_HOME/fetch.XXXXXX")"
    log "fetching Apache Kafka $KAFKA_VERSION (kafka_$SCALA_VERSION + runtime deps) with mvn into $LIBS"
    # log4j-slf4j-impl binds Kafka's slf4j 1.7 logging to log4j2, which the
    # broker already depends on; without it the broker would log nothing.
    cat >"$tmp/pom.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.streamlearn</groupId>
  <artifactId>kafka-broker-fetch</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_$SCALA_VERSION</artifactId>
      <version>$KAFKA_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>$LOG4J_VERSION</version>
      <scope>runtime</scope>
    </dependency>
  </dependencies>
</project>
EOF
    if ! mvn -q -B -f "$tmp/pom.xml" dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$tmp/libs" >"$tmp/mvn.log" 2>&1; then
        tail -n 30 "$tmp/mvn.log" >&2 || true
        rm -rf "$tmp"
        die "mvn could not fetch org.apache.kafka:kafka_$SCALA_VERSION:$KAFKA_VERSION (set STREAMLEARN_KAFKA_VERSION to a served 4.x version?)"
    fi
    if [[ ! -f "$tmp/libs/kafka_${SCALA_VERSION}-${KAFKA_VERSION}.jar" ]]; then
        rm -rf "$tmp"
        die "mvn finished but kafka_${SCALA_VERSION}-${KAFKA_VERSION}.jar is missing"
    fi
    rm -rf "$LIBS"
    mv "$tmp/libs" "$LIBS"
    rm -rf "$tmp"
    touch "$KAFKA_HOME/.complete"
    log "cached $(find "$LIBS" -name '*.jar' | wc -l) jars in $LIBS"
}

# Kafka cluster id: 16 random bytes, base64url without padding. Like
# `kafka-storage random-uuid`, avoid a leading '-' (reads as an option).
random_cluster_id() {
    local id
    while :; do
        id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
        [[ "$id" != -* && ${#id} -eq 22 ]] && break
    done
    printf '%s\n' "$id"
}

port_in_use() {
    # A successful connect means something is listening there.
    (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

# Print N distinct free loopback ports, one a line.
free_ports() {
    local n="$1"
    if command -v python3 >/dev/null 2>&1 &&
        python3 - "$n" <<'EOF' 2>/dev/null; then
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
for s in socks:
    print(s.getsockname()[1])
for s in socks:
    s.close()
EOF
        return 0
    fi
    # Fallback: probe random ports in 20000-59999.
    local -a picked=()
    local p tries=0
    while ((${#picked[@]} < n)); do
        ((++tries > 1000)) && die "could not find $n free loopback ports"
        p=$((20000 + RANDOM % 40000))
        [[ " ${picked[*]} " == *" $p "* ]] && continue
        port_in_use "$p" && continue
        picked+=("$p")
    done
    printf '%s\n' "${picked[@]}"
}

node_dir() { printf '%s/node-%s\n' "$RUN_DIR" "$1"; }

num_nodes() {
    [[ -f "$RUN_DIR/nodes" ]] || return 1
    cat "$RUN_DIR/nodes"
}

# Is node I's JVM alive? Checks the pid file and that the pid really is our
# java process (its command line names the node's server.properties).
node_pid() {
    local dir pid
    dir="$(node_dir "$1")"
    [[ -f "$dir/kafka.pid" ]] || return 1
    pid="$(cat "$dir/kafka.pid" 2>/dev/null)" || return 1
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$dir/server.properties" || return 1
    printf '%s\n' "$pid"
}

node_port() { # node_port I broker|controller
    sed -n "s/^# streamlearn-$2-port=//p" "$(node_dir "$1")/server.properties"
}

any_node_alive() {
    local n i
    n="$(num_nodes)" || return 1
    for ((i = 1; i <= n; i++)); do
        node_pid "$i" >/dev/null && return 0
    done
    return 1
}

write_log4j_config() {
    cat >"$RUN_DIR/log4j2.properties" <<'EOF'
# Broker logging for tests: INFO to stdout (redirected to node-I/kafka.log).
status = warn
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.authorizer.name = kafka.authorizer.logger
logger.authorizer.level = WARN
EOF
}

# write_node_config I N BROKER_PORT CONTROLLER_PORT VOTERS
write_node_config() {
    local i="$1" n="$2" bport="$3" cport="$4" voters="$5" dir min_isr
    dir="$(node_dir "$i")"
    min_isr=1
    ((n >= 3)) && min_isr=2
    mkdir -p "$dir/data"
    cat >"$dir/server.properties" <<EOF
# Generated by scripts/kafka.sh for streamlearn integration tests.
# streamlearn-broker-port=$bport
# streamlearn-controller-port=$cport
process.roles=broker,controller
node.id=$i
controller.quorum.voters=$voters
listeners=PLAINTEXT://$HOST:$bport,CONTROLLER://$HOST:$cport
advertised.listeners=PLAINTEXT://$HOST:$bport
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
num.partitions=4
default.replication.factor=$n
min.insync.replicas=1
auto.create.topics.enable=true
delete.topic.enable=true
group.initial.rebalance.delay.ms=0
offsets.topic.replication.factor=$n
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=$n
transaction.state.log.min.isr=$min_isr
transaction.state.log.num.partitions=8
share.coordinator.state.topic.replication.factor=$n
share.coordinator.state.topic.min.isr=$min_isr
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
log.retention.hours=24
log.segment.bytes=67108864
EOF
}

format_node() { # format_node I CLUSTER_ID
    local dir
    dir="$(node_dir "$1")"
    "$(java_bin)" -Xmx256m -cp "$LIBS/*" \
        -Dlog4j2.configurationFile="$RUN_DIR/log4j2.properties" \
        kafka.tools.StorageTool format -t "$2" -c "$dir/server.properties" \
        >"$dir/format.log" 2>&1
}

launch_node() { # launch_node I
    local i="$1" dir java
    dir="$(node_dir "$i")"
    java="$(java_bin)"
    rm -f "$dir/kafka.pid" # a stale pid from an earlier run must not be read
    printf '==== %s starting node %s (kafka %s)\n' "$(date '+%F %T')" "$i" "$KAFKA_VERSION" >>"$dir/kafka.log"
    # A new session (setsid) keeps the broker out of the caller's process
    # group; the child writes its own pid before exec'ing java, and closes
    # the lock fd so the broker does not hold the script's lock.
    # HEAP_OPTS is a list of JVM options; $$ is for the inner shell.
    # shellcheck disable=SC2086,SC2016
    setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$dir/kafka.pid" \
        "$java" $HEAP_OPTS -server \
        -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
        -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true \
        -Dlog4j2.configurationFile="$RUN_DIR/log4j2.properties" \
        -Dkafka.logs.dir="$dir" \
        -cp "$LIBS/*" kafka.Kafka "$dir/server.properties" \
        </dev/null >>"$dir/kafka.log" 2>&1 9>&- &
    local t=0
    while [[ ! -s "$dir/kafka.pid" ]] && ((t++ < 50)); do sleep 0.1; done
}

# Does node I answer metadata requests and list itself as a live broker?
node_ready() {
    local i="$1" bport kc
    bport="$(node_port "$i" broker)"
    if kc="$(kcat_bin)"; then
        local md
        md="$("$kc" -L -b "$HOST:$bport" -m 3 2>/dev/null)" || return 1
        grep -qE "^ +broker $i at " <<<"$md"
    else
        # Without kcat: the port is open and the broker logged its startup
        # since the last launch marker.
        port_in_use "$bport" &&
            awk '/^==== .* starting node/ {s = 0} /Kafka Server started/ {s = 1}
                 END {exit !s}' "$(node_dir "$i")/kafka.log"
    fi
}

show_log_tail() { # show_log_tail I
    local f
    f="$(node_dir "$1")/kafka.log"
    if [[ -f "$f" ]]; then
        printf -- '---- last 40 lines of %s\n' "$f" >&2
        tail -n 40 "$f" >&2
        printf -- '----\n' >&2
    fi
}

# wait_ready I...: wait until every listed node is ready, or fail.
wait_ready() {
    local deadline i
    local -a pending
    deadline=$((SECONDS + START_TIMEOUT))
    while :; do
        pending=()
        for i in "$@"; do
            if ! node_pid "$i" >/dev/null; then
                log "node $i exited during startup"
                show_log_tail "$i"
                return 1
            fi
            node_ready "$i" || pending+=("$i")
        done
        ((${#pending[@]} == 0)) && return 0
        if ((SECONDS >= deadline)); then
            log "timed out after ${START_TIMEOUT}s waiting for node(s) ${pending[*]}"
            for i in "${pending[@]}"; do show_log_tail "$i"; done
            return 1
        fi
        sleep 0.5
    done
}

# stop_pids PID...: SIGTERM, wait up to STOP_TIMEOUT s, then SIGKILL.
stop_pids() {
    local pid deadline alive
    for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
    deadline=$((SECONDS + STOP_TIMEOUT))
    while :; do
        alive=()
        for pid in "$@"; do
            kill -0 "$pid" 2>/dev/null && alive+=("$pid")
        done
        ((${#alive[@]} == 0)) && return 0
        if ((SECONDS >= deadline)); then
            log "pid(s) ${alive[*]} still running after ${STOP_TIMEOUT}s: sending SIGKILL"
            kill -KILL "${alive[@]}" 2>/dev/null || true
            # Wait (briefly) until they are gone, so their ports are free.
            local t=0
            for pid in "${alive[@]}"; do
                while kill -0 "$pid" 2>/dev/null && ((t++ < 50)); do sleep 0.1; done
            done
            return 0
        fi
        sleep 0.2
    done
}

lock() {
    # Serialise concurrent invocations (e.g. parallel test jobs). The lock
    # file sits beside the run dir, which `stop` removes.
    if command -v flock >/dev/null 2>&1; then
        exec 9>"$RUN_DIR.lock"
        flock -w 180 9 || die "could not lock $RUN_DIR.lock"
    fi
}

check_node_arg() { # check_node_arg I
    local n
    n="$(num_nodes)" || die "no cluster in $RUN_DIR (run '$PROG start' first)"
    if [[ ! "$1" =~ ^[0-9]+$ ]] || (($1 < 1 || $1 > n)); then
        die "node must be 1..$n, got '$1'"
    fi
}

# ---------------------------------------------------------------- commands

cmd_start() {
    local n=1
    while (($#)); do
        case "$1" in
        --brokers | -n)
            (($# >= 2)) || die "--brokers needs a value"
            n="$2"
            shift 2
            ;;
        --brokers=*)
            n="${1#--brokers=}"
            shift
            ;;
        *) die "start: unknown option '$1'" ;;
        esac
    done
    [[ "$n" =~ ^[1-9]$ ]] || die "--brokers must be 1..9 (1 or 3 are the tested sizes), got '$n'"

    lock
    if [[ -d "$RUN_DIR" ]] && any_node_alive; then
        local have
        have="$(num_nodes)"
        if [[ "$have" != "$n" ]]; then
            die "a $have-node cluster is already running ($(cat "$RUN_DIR/bootstrap")); run '$PROG stop' first"
        fi
        log "already running ($have node(s))"
        cat "$RUN_DIR/bootstrap"
        return 0
    fi
    if [[ -e "$RUN_DIR" ]]; then
        [[ -f "$MARKER" ]] || die "$RUN_DIR exists and was not made by this script; remove it or set STREAMLEARN_KAFKA_DIR"
        log "removing stale run dir $RUN_DIR (no node was running)"
        rm -rf "$RUN_DIR"
    fi

    check_java
    fetch_kafka

    local t0=$SECONDS i cluster_id voters="" bootstrap=""
    local -a ports
    mkdir -p "$RUN_DIR"
    touch "$MARKER"
    mapfile -t ports < <(free_ports $((2 * n)))
    ((${#ports[@]} == 2 * n)) || die "could not pick $((2 * n)) free ports"
    for ((i = 1; i <= n; i++)); do
        voters+="${voters:+,}$i@$HOST:${ports[2 * i - 1]}"
        bootstrap+="${bootstrap:+,}$HOST:${ports[2 * i - 2]}"
    done
    cluster_id="$(random_cluster_id)"
    printf '%s\n' "$n" >"$RUN_DIR/nodes"
    printf '%s\n' "$cluster_id" >"$RUN_DIR/cluster-id"
    printf '%s\n' "$KAFKA_VERSION" >"$RUN_DIR/version"
    write_log4j_config

    # Format all nodes' storage in parallel (one JVM each).
    local -a fpids=()
    for ((i = 1; i <= n; i++)); do
        write_node_config "$i" "$n" "${ports[2 * i - 2]}" "${ports[2 * i - 1]}" "$voters"
        format_node "$i" "$cluster_id" &
        fpids+=($!)
    done
    for ((i = 1; i <= n; i++)); do
        if ! wait "${fpids[i - 1]}"; then
            cat "$(node_dir "$i")/format.log" >&2
            die "formatting storage of node $i failed (see above)"
        fi
    done

    local -a all=()
    for ((i = 1; i <= n; i++)); do
        launch_node "$i"
        all+=("$i")
    done
    if ! wait_ready "${all[@]}"; then
        log "start failed; stopping the nodes (logs kept in $RUN_DIR)"
        local -a pids=()
        local p
        for ((i = 1; i <= n; i++)); do
            p="$(node_pid "$i")" && pids+=("$p")
        done
        ((${#pids[@]})) && stop_pids "${pids[@]}"
        exit 1
    fi
    printf '%s\n' "$bootstrap" >"$RUN_DIR/bootstrap"
    log "kafka $KAFKA_VERSION running with $n node(s) in $((SECONDS - t0))s: $bootstrap"
    printf '%s\n' "$bootstrap"
}

cmd_stop() {
    lock
    if [[ ! -e "$RUN_DIR" ]]; then
        log "not running"
        return 0
    fi
    [[ -f "$MARKER" ]] || die "$RUN_DIR was not made by this script; not touching it"
    local -a pids=()
    local n i p
    if n="$(num_nodes)"; then
        for ((i = 1; i <= n; i++)); do
            p="$(node_pid "$i")" && pids+=("$p")
        done
    fi
    if ((${#pids[@]})); then
        log "stopping ${#pids[@]} node(s) (pid ${pids[*]})"
        stop_pids "${pids[@]}"
    fi
    rm -rf "$RUN_DIR"
    log "stopped; removed $RUN_DIR"
}

cmd_status() {
    local n i pid up=0
    if [[ ! -d "$RUN_DIR" ]] || ! n="$(num_nodes)"; then
        echo "kafka: not running"
        return 3
    fi
    local -a lines=()
    for ((i = 1; i <= n; i++)); do
        if pid="$(node_pid "$i")"; then
            up=$((up + 1))
            lines+=("node $i: up (pid $pid, broker $HOST:$(node_port "$i" broker), controller $HOST:$(node_port "$i" controller))")
        else
            lines+=("node $i: stopped (broker $HOST:$(node_port "$i" broker))")
        fi
    done
    if ((up == 0)); then
        echo "kafka: not running (run dir $RUN_DIR has $n stopped node(s))"
        printf '%s\n' "${lines[@]}"
        return 3
    fi
    if ((up == n)); then
        echo "kafka: running ($n node(s), version $(cat "$RUN_DIR/version"))"
    else
        echo "kafka: running, degraded ($up of $n node(s) up, version $(cat "$RUN_DIR/version"))"
    fi
    echo "bootstrap: $(cat "$RUN_DIR/bootstrap" 2>/dev/null || echo '?')"
    printf '%s\n' "${lines[@]}"
}

# Prints the bootstrap string while the cluster exists, even while a node is
# stopped with stop-node (its ports do not change).
cmd_bootstrap() {
    if [[ -f "$RUN_DIR/bootstrap" ]]; then
        cat "$RUN_DIR/bootstrap"
    else
        log "not running"
        return 3
    fi
}

cmd_stop_node() {
    (($# == 1)) || usage
    lock
    check_node_arg "$1"
    local pid
    if ! pid="$(node_pid "$1")"; then
        log "node $1 is not running"
        return 0
    fi
    local t0=$SECONDS
    stop_pids "$pid"
    rm -f "$(node_dir "$1")/kafka.pid"
    log "node $1 stopped in $((SECONDS - t0))s (data kept)"
}

cmd_start_node() {
    (($# == 1)) || usage
    lock
    check_node_arg "$1"
    if node_pid "$1" >/dev/null; then
        log "node $1 is already running"
        return 0
    fi
    check_java
    fetch_kafka
    local t0=$SECONDS bport
    bport="$(node_port "$1" broker)"
    port_in_use "$bport" && die "port $bport of node $1 is taken by another process"
    launch_node "$1"
    wait_ready "$1" || exit 1
    log "node $1 up again in $((SECONDS - t0))s: $HOST:$bport"
}

main() {
    (($#)) || usage
    [[ "$START_TIMEOUT" =~ ^[0-9]+$ ]] ||
        die "STREAMLEARN_KAFKA_TIMEOUT must be a number of seconds, got '$START_TIMEOUT'"
    local cmd="$1"
    shift
    case "$cmd" in
    start) cmd_start "$@" ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    bootstrap) cmd_bootstrap ;;
    stop-node) cmd_stop_node "$@" ;;
    start-node) cmd_start_node "$@" ;;
    -h | --help | help) usage ;;
    *)
        log "unknown command '$cmd'"
        usage
        ;;
    esac
}

main "$@"
