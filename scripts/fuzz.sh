#!/usr/bin/env bash
# fuzz.sh — runs each libFuzzer target for SECONDS over a copy of its corpus.
# New interesting inputs stay in build/fuzz-corpus/; copy the small ones that
# found bugs into fuzz/corpus/ so CI replays them forever.
set -euo pipefail
build=${1:-build/fuzz}
secs=${2:-60}
for target in event config snapshot example; do
  work=build/fuzz-corpus/$target
  mkdir -p "$work"
  cp -n fuzz/corpus/$target/* "$work"/ 2>/dev/null || true
  echo "== fuzz_$target for ${secs}s"
  "$build/fuzz/fuzz_$target" -max_total_time="$secs" -max_len=4096 "$work"
done
