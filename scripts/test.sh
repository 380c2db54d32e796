#!/usr/bin/env bash
# test.sh — what `make test` runs after the sanitizer build: every CTest test
# (unit, replay, fuzz-corpus replays). Tests labelled `kafka` need a real
# broker; this script starts one with scripts/kafka.sh and always stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${SL_BUILD_DIR:-build/dev}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

ctest --test-dir "$build" --output-on-failure -j2 -LE kafka

if ctest --test-dir "$build" -N -L kafka | grep -q "Total Tests: [1-9]"; then
  trap 'scripts/kafka.sh stop >/dev/null 2>&1 || true' EXIT
  scripts/kafka.sh start
  SL_KAFKA_BOOTSTRAP=$(scripts/kafka.sh bootstrap) \
    ctest --test-dir "$build" --output-on-failure -j1 -L kafka
fi
