#!/usr/bin/env bash
# Install the Debian packages the embedded stack needs, only when missing.
set -euo pipefail
declare -A wanted=( [redis-server]=redis-server [espeak-ng]=espeak-ng [docker-compose]=docker-compose [chromium]=chromium )
missing=()
for binary in "${!wanted[@]}"; do
  command -v "$binary" >/dev/null 2>&1 || missing+=("${wanted[$binary]}")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: system packages present (redis-server, espeak-ng, docker-compose, chromium)"
  exit 0
fi
echo "setup: installing Debian packages: ${missing[*]}"
if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup: cannot install ${missing[*]}: no apt-get on this machine; install them and re-run" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "setup: need root (or sudo) to install ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
echo "setup: installed ${missing[*]}"
