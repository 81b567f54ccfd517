#!/usr/bin/env bash
# Refresh src/neurocache/client/browser/vendor/ from the pinned npm packages (needs npm and the registry).
set -euo pipefail
cd "$(dirname "$0")/../src/neurocache/client/browser/vendor"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent socket.io-client@4.8.4 marked@16.4.2 dompurify@3.5.0 \
  uplot@1.6.32 >/dev/null)
for tarball in "$work"/*.tgz; do
  mkdir -p "${tarball%.tgz}" && tar xzf "$tarball" -C "${tarball%.tgz}"
done
cp "$work"/socket.io-client-4.8.4/package/dist/socket.io.esm.min.js socket.io.esm.min.js
cp "$work"/socket.io-client-4.8.4/package/LICENSE LICENSE.socket.io-client
cp "$work"/marked-16.4.2/package/lib/marked.esm.js marked.esm.js
cp "$work"/marked-16.4.2/package/LICENSE.md LICENSE.marked.md
cp "$work"/dompurify-3.5.0/package/dist/purify.es.mjs purify.es.js
cp "$work"/dompurify-3.5.0/package/LICENSE LICENSE.dompurify
cp "$work"/uplot-1.6.32/package/dist/uPlot.esm.js uPlot.esm.js
cp "$work"/uplot-1.6.32/package/dist/uPlot.min.css uPlot.min.css
cp "$work"/uplot-1.6.32/package/LICENSE LICENSE.uplot
sed -i '/sourceMappingURL/d' ./*.js
echo "vendored: $(ls)"
