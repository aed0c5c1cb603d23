#!/usr/bin/env sh
# Tests {{name}} natively, then builds {{file}}.wasm. Needs componentize-py and pytest
# (pip install componentize-py==0.25.1 pytest==8.3.4).
set -eu
cd "$(dirname "$0")"
WIT=wit/kith-plugin@0.1.0
componentize-py -d "$WIT" -w scorer bindings .bindings
PYTHONPATH=.bindings:native:. python3 -m pytest -q -p no:cacheprovider
componentize-py -d "$WIT" -w scorer componentize -p . app -o {{file}}.wasm
echo "built {{file}}.wasm; try it: kith plugin run {{file}}.wasm --input input.json --memory-mib 64 --fuel 200000000 --deadline-ms 2000"
