#!/usr/bin/env bash
# lint.sh — static analysis of the project's own C code with cppcheck
# (warnings, performance, portability). Exit 1 on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."
dirs=(core gen models state operators stream cli)
present=()
inc=()
for d in "${dirs[@]}"; do
  if [ -d "$d" ]; then present+=("$d"); inc+=(-I "$d"); fi
done
cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability --std=c11 \
  --inline-suppr "${inc[@]}" "${present[@]}"
echo "cppcheck: clean (${present[*]})"
