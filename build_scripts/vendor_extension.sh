#!/usr/bin/env bash
# Refresh browser-extension/src/vendor/ from the pinned npm package (needs npm and the registry).
set -euo pipefail
cd "$(dirname "$0")/../browser-extension/src"
mkdir -p vendor
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent @mozilla/readability@0.6.0 >/dev/null && tar xzf ./*.tgz)
cp "$work"/package/Readability.js vendor/Readability.js
cp "$work"/package/LICENSE.md vendor/LICENSE.readability.md
echo "vendored: $(ls vendor)"
