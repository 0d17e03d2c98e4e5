#!/usr/bin/env bash
# Builds %%name%%.wasm with componentize-py (CPython and app.py with the
# modules it imports, as a component of world %%world%%). componentize-py is
# $COMPONENTIZE_PY if set, else installed from requirements.txt into the venv
# $VENV (default .venv; componentize-py bundles only what app.py imports).
# The output is renamed into place, so a host watching this directory never
# reads half a file.
set -euo pipefail
cd "$(dirname "$0")"
if [ -n "${COMPONENTIZE_PY:-}" ]; then
    componentize_py="$COMPONENTIZE_PY"
else
    venv="${VENV:-.venv}"
    if [ ! -x "$venv/bin/componentize-py" ] || [ requirements.txt -nt "$venv/bin/componentize-py" ]; then
        python3 -m venv "$venv"
        "$venv/bin/python" -m pip install --disable-pip-version-check --quiet -r requirements.txt
        touch "$venv/bin/componentize-py"
    fi
    componentize_py="$venv/bin/componentize-py"
fi
"$componentize_py" -d wit -w %%world%% componentize app -o ".%%name%%.wasm.tmp"
mv -f ".%%name%%.wasm.tmp" "%%name%%.wasm"
echo "built %%name%%.wasm"
