#!/usr/bin/env bash
# bench/kafka_e2e.sh — the engine against the raw Kafka ceiling on a real
# broker (scripts/kafka.sh), in one run:
#   (a) a bare librdkafka consumer reading a topic (bench_kafka consume);
#   (b) the engine reading the same topic through parse -> route
#       (engine.graph = validate) — the issue's parse-and-route graph;
#   (a') / (b') view events through the full graph: each is featurized from
#       state, scored (one score produced per view) and joined with its
#       labels (an example produced when its window closes);
#   (c) end-to-end latency, event produced -> score readable, at a fixed
#       produce rate: p50 / p99 / p99.9 / max.
#   The latency runs the full graph twice, with the state in memory
#   (no state.dir: checkpoints every state.checkpoint_events) and durable
#   (state.dir: a synced checkpoint every state.checkpoint_interval_ms, offsets
#   committed only after it), and the relay peer, each on its own topic.
# Usage: bench/kafka_e2e.sh [EVENTS] [RATE]   (defaults 1000000, 50000)
# SL_PRODUCER_PROPS='{"linger.ms":"1"}' passes producer properties to the engine.
# SL_BUILD=DIR takes the binaries from DIR (default build/release).
# SL_STATE_PROPS='"cache_mb":64' adds members to the engine's "state" section,
# SL_ENGINE_PROPS='"batch_size":512' to its "engine" section.
# SL_E2E_MODELS='{"click":{"kind":"ftrl_lr","surface":"ads"}}' replaces the engine's
#   models (default: the config defaults, docs/CONFIG.md: two ads models, the feed model).
# SL_E2E_ONLY=latency skips the throughput runs (a) and (b);
# SL_E2E_LAT="mem dur relay" picks the latency runs (default: all three).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
rate=${2:-50000}
build=${SL_BUILD:-build/release}
bin=$build/cli/streamlearn
tool=$build/bench/bench_kafka
work=$(mktemp -d)
started=0
engine_pid=
cleanup() {
  if [ -n "$engine_pid" ]; then kill "$engine_pid" 2>/dev/null || true; fi
  if [ "$started" = 1 ]; then scripts/kafka.sh stop >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
if ! scripts/kafka.sh status >/dev/null 2>&1; then
  scripts/kafka.sh start >/dev/null
  started=1
fi
b=$(scripts/kafka.sh bootstrap)
id=$$
models_member=
if [ -n "${SL_E2E_MODELS:-}" ]; then models_member=",\"models\":$SL_E2E_MODELS"; fi
cfg() { # cfg INPUT SCORES GROUP [GRAPH [STATE_DIR]] -> config path
  cat > "$work/$3.json" <<JSON
{"kafka":{"brokers":"$b","group_id":"$3","input_topics":["$1"],"scores_topic":"$2",
 "deadletter_topic":"dl-$id","examples_topic":"ex-$id","producer":${SL_PRODUCER_PROPS:-{\}}},
 "engine":{"graph":"${4:-full}"${SL_ENGINE_PROPS:+,$SL_ENGINE_PROPS}},"state":{"dir":"${5:-}"${SL_STATE_PROPS:+,$SL_STATE_PROPS}}
 $models_member}
JSON
  echo "$work/$3.json"
}
engine() { # engine TOPIC NAME GRAPH: run to idle, print its rate
  STREAMLEARN_LOG=warn $bin run --config "$(cfg "$1" "scores-$2-$id" "g-$2-$id" "$3")" \
    --until-idle 3 --no-progress --summary "$work/$2.json"
  printf 'engine: %s records, %s outputs, busy %s s, %s events/s\n' \
    "$(grep -o '"records": [0-9]*' "$work/$2.json" | grep -o '[0-9]*$')" \
    "$(grep -o '"outputs": [0-9]*' "$work/$2.json" | grep -o '[0-9]*$')" \
    "$(grep -o '"busy_seconds": [0-9.]*' "$work/$2.json" | grep -o '[0-9.]*$')" \
    "$(grep -o '"events_per_s": [0-9]*' "$work/$2.json" | grep -o '[0-9]*$')"
}

echo "== broker $b (Kafka $(cat "${STREAMLEARN_KAFKA_DIR:-/tmp/streamlearn-kafka}/version" 2>/dev/null || echo 4.x))"
if [ "${SL_E2E_ONLY:-}" != latency ]; then
  echo "== parse -> route (engine.graph validate): $n view events"
  $tool produce "$b" "route-$id" "$n" 0 view
  echo "(a) raw ceiling:"; $tool consume "$b" "route-$id" "$n"
  echo "(b) the engine:"; engine "route-$id" route validate

  echo "== the full graph (features from state, a score per view, examples): $n view events"
  echo "(b') the engine:"; engine "route-$id" full full
fi

m=$((rate * 20))
stalls() { # the engine's own view of its loop stalls, from its summary
  grep -o '"loop": {[^}]*}' "$1" || true
}
latency_run() { # latency_run NAME STATE_DIR: the full graph at $rate for 20 s
  $tool produce "$b" "lat-$1-$id" 1 0 friend >/dev/null  # create the topics first (a friend
                                                         # event: no score), so
  $tool produce "$b" "lat-scores-$1-$id" 1 >/dev/null    # nobody waits for metadata
  STREAMLEARN_LOG=warn $bin run \
    --config "$(cfg "lat-$1-$id" "lat-scores-$1-$id" "gl-$1-$id" full "$2")" \
    --no-progress --summary "$work/lat-$1.json" &
  engine_pid=$!
  sleep 6   # the group join
  $tool latency "$b" "lat-scores-$1-$id" "$m" &
  lat_pid=$!
  sleep 3
  $tool produce "$b" "lat-$1-$id" "$m" "$rate" view
  wait "$lat_pid"
  kill -TERM "$engine_pid"
  wait "$engine_pid" || true
  engine_pid=
  stalls "$work/lat-$1.json"
}
echo "== (c) latency: views at $rate events/s for 20 s, produced -> score readable"
runs=" ${SL_E2E_LAT:-mem dur relay} "
if [[ $runs == *" mem "* ]]; then
  echo "(c1) full graph, state in memory:"; latency_run mem ""
fi
if [[ $runs == *" dur "* ]]; then
  echo "(c2) full graph, durable state (state.dir):"; latency_run dur "$work/state-dur"
fi
if [[ $runs == *" relay "* ]]; then
  echo "== (c') the latency peer: a bare librdkafka relay (consume -> produce, no processing)"
  $tool produce "$b" "rel-$id" 1 >/dev/null
  $tool produce "$b" "rel-out-$id" 1 >/dev/null
  $tool relay "$b" "rel-$id" "rel-out-$id" "$m" &
  relay_pid=$!
  sleep 6
  $tool latency "$b" "rel-out-$id" "$m" &
  lat_pid=$!
  sleep 3
  $tool produce "$b" "rel-$id" "$m" "$rate" view
  wait "$lat_pid"
  wait "$relay_pid"
fi
