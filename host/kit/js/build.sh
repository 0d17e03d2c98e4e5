#!/usr/bin/env bash
# Builds %%name%%.wasm with componentize-qjs (QuickJS and app.js with the
# modules it imports, as a component of world %%world%%). `npm ci` installs
# the pinned componentize-qjs first when node_modules is missing or older
# than package-lock.json. The output is renamed into place, so a host
# watching this directory never reads half a file.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -e node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund
fi
# --sync: plain synchronous exports (the host does not enable the
# component-model async ABI).
./node_modules/.bin/componentize-qjs --sync --wit wit --world %%world%% --js app.js -o ".%%name%%.wasm.tmp"
mv -f ".%%name%%.wasm.tmp" "%%name%%.wasm"
echo "built %%name%%.wasm"
