#!/usr/bin/env bash
# Installs the Debian 12 packages selfalign needs to build, test and run its demo, if missing.
# Used by scripts/demo.sh, scripts/test.sh and .ci/run. Safe to run repeatedly.
set -euo pipefail

packages=(cmake ninja-build g++ clang pkg-config nlohmann-json3-dev libfmt-dev doctest-dev
          libcpp-httplib-dev libcli11-dev libssl-dev zlib1g-dev libbrotli-dev libclang-rt-14-dev libsqlite3-dev
          chromium)  # chromium: the eval report is rendered by headless Chromium in a test
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "selfalign: installing missing packages: ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "selfalign: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
