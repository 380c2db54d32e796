#!/usr/bin/env bash
# deps.sh — make sure the Debian packages streamlearn builds and tests with are
# installed. As root it installs what is missing (apt-get); otherwise it
# prints the command to run and fails. Quiet when everything is there.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config     # toolchain
  librdkafka-dev librocksdb-dev libuv1-dev         # Kafka, state, event loop
  libopenblas-dev libjansson-dev libcmocka-dev     # BLAS, JSON, tests
  zlib1g-dev                                       # .gz replay input
  kcat cppcheck                                    # tests: the broker; static analysis
  default-jre-headless maven                       # tests: the real Kafka broker
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# Java and Maven may come from elsewhere than Debian (e.g. an SDK manager):
# accept working commands in place of the packages.
if command -v java >/dev/null 2>&1; then
  missing=("${missing[@]/default-jre-headless/}")
fi
if command -v mvn >/dev/null 2>&1; then
  missing=("${missing[@]/maven/}")
fi
read -r -a missing <<<"${missing[*]}"
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "deps.sh: apt-get not found; install the equivalents of: ${missing[*]}" >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "deps.sh: missing packages: ${missing[*]}" >&2
  echo "deps.sh: run: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
