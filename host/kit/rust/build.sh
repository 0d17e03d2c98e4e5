#!/usr/bin/env bash
# Builds %%name%%.wasm: the crate for wasm32-wasip2, whose cdylib is a
# component already, copied out of cargo's target directory (CARGO_TARGET_DIR
# is honoured). The copy is renamed into place, so a host watching this
# directory never reads half a file.
set -euo pipefail
cd "$(dirname "$0")"
if command -v rustup >/dev/null; then
    rustup target add wasm32-wasip2 >/dev/null
fi
cargo build --release --target wasm32-wasip2
target_dir="${CARGO_TARGET_DIR:-target}"
cp "$target_dir/wasm32-wasip2/release/%%crate%%.wasm" ".%%name%%.wasm.tmp"
mv -f ".%%name%%.wasm.tmp" "%%name%%.wasm"
echo "built %%name%%.wasm"
