#!/usr/bin/env bash
# snapshots.sh BIN — kafka_snapshots: model snapshots on a real broker. The
# engine learns a click model over a generated ads stream and publishes a
# snapshot every 10 minutes of event time; each is larger than a message may
# be (2 MiB against message.max.bytes 1 MB), so it goes as chunks (keys
# click#0..). `snapshot fetch` reassembles the newest one from the topic; it
# is sound, carries the examples the engine learned, and warm-starts a
# replay. The graceful stop publishes a last snapshot, so the newest one
# holds every example the engine learned. A model the topic has no
# snapshot of exits 1.
source "$(dirname "$0")/lib.sh"
kt_init kafka_snapshots "${1:-}"

in=$(kt_topic in)
snaps=$(kt_topic snapshots)
kt_create_topic "$in"
"$KT_BIN" gen --events 30000 --seed 6 --surfaces ads --quiet --out "$KT_DIR/ads.jsonl"
kt_config "$KT_DIR/config.json" "sl-$KT_NAME-$KT_ID"
# Small tables (2^18 coordinates: a 2 MiB snapshot) and a snapshot every
# 10 minutes of event time (the stream covers ~50 minutes).
sed -i 's|"models":{"click":{"kind":"ftrl_lr","surface":"ads"}}|"features":{"hash_bits":18},"surfaces":{"ads":{"window_ms":120000,"lateness_ms":5000}},"models":{"click":{"kind":"ftrl_lr","surface":"ads","snapshot_interval_ms":600000}}|' \
    "$KT_DIR/config.json"
grep -q snapshot_interval_ms "$KT_DIR/config.json" || kt_fail "could not set the models of the config"
kt_engine engine --config "$KT_DIR/config.json" --produce "$KT_DIR/ads.jsonl" --until-idle 3 \
    --summary "$KT_DIR/summary.json" --no-progress
kt_wait_exit "$KT_PID" 120 "the engine (--until-idle 3)"
kt_expect_eq "engine exit status" "$KT_RC" 0
chunked=$(kt_num "$KT_DIR/summary.json" snapshots_chunked)
((chunked >= 3)) || kt_fail "only $chunked snapshots were published as chunks"
kt_consume "$snaps" '%k\n' >"$KT_DIR/keys"
grep -qx 'click#0' "$KT_DIR/keys" && grep -qx 'click#2' "$KT_DIR/keys" ||
    kt_fail "no chunk keys click#0..2 in $snaps: $(sort -u "$KT_DIR/keys" | tr '\n' ' ')"

"$KT_BIN" snapshot fetch --config "$KT_DIR/config.json" --brokers "$KT_B" --topic "$snaps" \
    --out "$KT_DIR/click.snap" click 2>"$KT_DIR/fetch.log" || kt_fail "fetch failed: $(cat "$KT_DIR/fetch.log")"
"$KT_BIN" snapshot inspect "$KT_DIR/click.snap" >"$KT_DIR/inspect.json" ||
    kt_fail "the fetched snapshot is not sound"
ex=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['dims']['examples'])" "$KT_DIR/inspect.json")
learned=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['operators']['join']['models']['click']['learned'])" "$KT_DIR/summary.json")
# The newest is the one the graceful stop published: all the engine learned.
kt_expect_eq "examples in the fetched (final) snapshot" "$ex" "$learned"
kt_log "ok: $chunked snapshots published in chunks (periodic, then the final one); fetched the final one ($ex examples)"

rc=0
"$KT_BIN" snapshot fetch --config "$KT_DIR/config.json" --brokers "$KT_B" --topic "$snaps" \
    --out "$KT_DIR/none.snap" nosuchmodel 2>"$KT_DIR/none.log" || rc=$?
kt_expect_eq "fetch of a model with no snapshot: exit status" "$rc" 1
grep -q 'no complete snapshot of model "nosuchmodel"' "$KT_DIR/none.log" ||
    kt_fail "unclear message: $(cat "$KT_DIR/none.log")"

"$KT_BIN" replay --config "$KT_DIR/config.json" --input "$KT_DIR/ads.jsonl" --out "$KT_DIR/warm" \
    --warm-start "$KT_DIR/click.snap" --quiet --no-progress || kt_fail "replay rejected the fetched snapshot"
kt_log "ok: a missing model exits 1; the fetched snapshot warm-starts a replay"
