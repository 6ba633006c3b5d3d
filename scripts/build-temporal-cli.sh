#!/usr/bin/env bash
# Build the Temporal CLI (dev server included) from its Go module into a cache outside the repo.
set -euo pipefail
bin_dir="$1"; version="$2"
if ! command -v go >/dev/null 2>&1; then
  echo "setup: Go is required to build the Temporal CLI (go install github.com/temporalio/cli/cmd/temporal@$version); install Go and re-run" >&2
  exit 1
fi
mkdir -p "$bin_dir"
echo "setup: building the Temporal CLI $version from its Go module (first time only, a few minutes)"
GOBIN="$bin_dir" GOFLAGS=-mod=mod go install "github.com/temporalio/cli/cmd/temporal@$version"
"$bin_dir/temporal" --version
