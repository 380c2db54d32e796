#!/usr/bin/env bash
# test_cli.sh — the streamlearn binary as a user runs it: generated events
# with every kind of malformed line replay with every line accounted for
# (from a file, a .gz file and stdin, with identical results); unusable
# configs and files exit 2 with a message naming the problem.
set -euo pipefail
bin=${1:?usage: test_cli.sh path/to/streamlearn}
src=${SL_SOURCE_DIR:?}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fails=0
check() { # check DESCRIPTION COMMAND...
  local what=$1; shift
  if "$@"; then echo "ok   $what"; else echo "FAIL $what"; fails=$((fails + 1)); fi
}
json_num() { # json_num FILE KEY -> the integer after "KEY":
  grep -o "\"$2\": *[0-9]*" "$1" | head -n 1 | grep -o '[0-9]*$'
}

# 100k good events with malformed lines of every kind mixed in.
"$bin" gen --events 100000 --seed 3 --bad 0.02 --quiet --out "$work/events.jsonl"
"$bin" replay --config "$src/configs/default.json" --input "$work/events.jsonl" \
  --out "$work/a" --quiet
lines=$(wc -l < "$work/events.jsonl")
events=$(json_num "$work/a/summary.json" events)
dead=$(json_num "$work/a/summary.json" dead_letters)
read_lines=$(json_num "$work/a/summary.json" lines)
check "replay read every line ($read_lines of $lines)" test "$read_lines" -eq "$lines"
check "events + dead letters = lines ($events + $dead)" test $((events + dead)) -eq "$lines"
check "dead letters file has one line per dead letter" \
  test "$(wc -l < "$work/a/deadletter.jsonl")" -eq "$dead"
check "about 2% were dead-lettered ($dead)" test "$dead" -gt 1500 -a "$dead" -lt 2600
for reason in empty too_large bad_json bad_utf8 duplicate_key not_object missing_field \
              bad_type bad_value unknown_type; do
  check "a dead letter with reason $reason" grep -q "\"reason\":\"$reason\"" "$work/a/deadletter.jsonl"
done

# The same input through gzip and through stdin gives the same outputs.
gzip -c "$work/events.jsonl" > "$work/events.jsonl.gz"
"$bin" replay --config "$src/configs/default.json" --input "$work/events.jsonl.gz" \
  --out "$work/b" --quiet
"$bin" replay --config "$src/configs/default.json" --input - --out "$work/c" --quiet \
  < "$work/events.jsonl"
check "gzip input gives identical scores" cmp -s "$work/a/scores.jsonl" "$work/b/scores.jsonl"
check "stdin input gives identical scores" cmp -s "$work/a/scores.jsonl" "$work/c/scores.jsonl"
# Dead letters name their file, so compare them without it.
strip() { sed 's/"file":"[^"]*"//' "$1"; }
check "gzip input gives identical dead letters" \
  cmp -s <(strip "$work/a/deadletter.jsonl") <(strip "$work/b/deadletter.jsonl")

# The state a replay leaves is readable from outside: features get.
"$bin" replay --config "$src/configs/default.json" --input "$work/events.jsonl" --out "$work/s" \
  --state "$work/state" --quiet
user=$(grep -m1 -o '"type":"view","ts":[0-9]*,"user":"[^"]*"' "$work/events.jsonl" | cut -d'"' -f10)
set +e
feat=$("$bin" features get --config "$src/configs/default.json" --state "$work/state" user "$user")
rc=$?
set -e
check "features get $user exits 0 ($rc)" test "$rc" -eq 0
check "features get names the entity" grep -q "\"entity\":\"user\",\"id\":\"$user\"" <<<"$feat"
check "features get shows the user's decayed views" grep -q '"user":{"t_last":[0-9]*,"views":\[[0-9.]*' <<<"$feat"
set +e
msg=$("$bin" features get --config "$src/configs/default.json" --state "$work/state" user nobody 2>&1)
rc=$?
set -e
check "features get of an unknown id exits 1 ($rc)" test "$rc" -eq 1
check "features get of an unknown id says not found" grep -q "not found" <<<"$msg"

# An event the state refuses (a profile that would pass 64 attributes) is
# dead-lettered with its reason; the stream goes on.
attrs() { local k=$1 i out=""; for i in $(seq 0 39); do out+="${out:+,}\"a${k}_$i\":$i"; done; echo "$out"; }
{
  echo "{\"type\":\"profile\",\"ts\":1767225600000,\"entity\":\"item\",\"id\":\"x1\",\"attrs\":{$(attrs 0)}}"
  echo "{\"type\":\"profile\",\"ts\":1767225600001,\"entity\":\"item\",\"id\":\"x1\",\"attrs\":{$(attrs 1)}}"
  echo '{"type":"view","ts":1767225600100,"user":"u","surface":"ads","item":"x1","view_id":"v1"}'
} > "$work/profiles.jsonl"
"$bin" replay --config "$src/configs/default.json" --input "$work/profiles.jsonl" --out "$work/p" --quiet
check "a refused profile is dead-lettered as bad_value" \
  grep -q '"line":2,.*"reason":"bad_value","detail":"profile x1: over 64 attributes' "$work/p/deadletter.jsonl"
check "the view after it is still scored" grep -q '"view_id":"v1"' "$work/p/scores.jsonl"
check "events + dead letters = lines after a refusal" grep -q '"events": 2,' "$work/p/summary.json"

# Unusable inputs: exit 2 and a message that names the problem.
echo '{"models":{"click":{"kind":"ftrl_lr","alpha":-1}}}' > "$work/bad.json"
set +e
msg=$("$bin" replay --config "$work/bad.json" --input "$work/events.jsonl" --out "$work/d" 2>&1)
rc=$?
set -e
check "bad config exits 2 ($rc)" test "$rc" -eq 2
check "bad config message names the path" grep -q "models.click.alpha: must be > 0, got -1" <<<"$msg"
set +e
msg=$("$bin" replay --config "$src/configs/default.json" --input "$work/missing.jsonl" \
  --out "$work/d" 2>&1)
rc=$?
set -e
check "missing input exits 2 ($rc)" test "$rc" -eq 2
check "missing input message names the file" grep -q "missing.jsonl: cannot open" <<<"$msg"
set +e
"$bin" replay --config "$src/configs/default.json" > /dev/null 2>&1
rc=$?
set -e
check "missing --input is a usage error ($rc)" test "$rc" -eq 2
check "config check accepts every shipped config" \
  bash -c "for f in '$src'/configs/*.json; do '$bin' config check \"\$f\" >/dev/null || exit 1; done"

if [ "$fails" -ne 0 ]; then
  echo "$fails check(s) failed"
  exit 1
fi
echo "all checks passed"
