#!/usr/bin/env bash
# Install the storage emulators the tests run (Azurite for Blob, @vercel/cosmosdb-server for Cosmos DB)
# with npm into a cache outside the repo. Idempotent: a second run with the right versions installs nothing.
#
#   scripts/ensure-node-emulators.sh [DIR]     (default: $HOME/.cache/switchboard/node)
#
# Binaries end up in DIR/node_modules/.bin (azurite-blob, cosmosdb-server); tests/storage_emulators.py
# finds them there (override with SWITCHBOARD_NODE_EMULATORS_DIR).
set -euo pipefail

dir="${1:-${HOME}/.cache/switchboard/node}"
# Pinned: azurite 3.35.0 is the newest that runs on Node 20 (see docs: NOTES-SDK-WIRE, storage emulators).
packages=("azurite@3.35.0" "@vercel/cosmosdb-server@1.0.1")
min_node_major=18

for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "setup: '$tool' not found: install Node.js ${min_node_major}+ with npm (e.g. apt-get install nodejs npm) and re-run" >&2
    exit 1
  fi
done
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt "$min_node_major" ]; then
  echo "setup: Node.js $(node --version) is too old for the storage emulators; need ${min_node_major}+" >&2
  exit 1
fi

installed_version() {
  # The version of package $1 installed in $dir, or nothing.
  local manifest="$dir/node_modules/$1/package.json"
  [ -f "$manifest" ] || return 0
  node -p 'require(process.argv[1]).version' "$manifest" 2>/dev/null || true
}

missing=()
for spec in "${packages[@]}"; do
  name="${spec%@*}"; version="${spec##*@}"
  have="$(installed_version "$name")"
  if [ "$have" = "$version" ]; then
    echo "setup: $name $version present in $dir"
  else
    missing+=("$spec")
    echo "setup: $name $version needed (found: ${have:-none})"
  fi
done
for bin in azurite-blob cosmosdb-server; do
  [ -x "$dir/node_modules/.bin/$bin" ] || missing+=("(bin:$bin)")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: storage emulators ready in $dir"
  exit 0
fi

mkdir -p "$dir"
# Serialise concurrent runs (two `make setup` at once) on a lock file in the cache.
exec 9>"$dir/.install.lock"
if command -v flock >/dev/null 2>&1; then
  flock 9
fi
# Install every pinned package in one npm call: installing one at a time would prune the other.
echo "setup: installing ${packages[*]} with npm into $dir (first time only, about a minute)"
npm install --prefix "$dir" --save-exact --no-audit --no-fund --loglevel=error "${packages[@]}"

for spec in "${packages[@]}"; do
  name="${spec%@*}"; version="${spec##*@}"
  have="$(installed_version "$name")"
  if [ "$have" != "$version" ]; then
    echo "setup: npm finished but $name is at '${have:-none}', expected $version in $dir" >&2
    exit 1
  fi
done
for bin in azurite-blob cosmosdb-server; do
  if [ ! -x "$dir/node_modules/.bin/$bin" ]; then
    echo "setup: npm finished but $dir/node_modules/.bin/$bin is missing" >&2
    exit 1
  fi
done
echo "setup: storage emulators ready in $dir (azurite-blob, cosmosdb-server)"
