#!/usr/bin/env bash
# Conformance runs against a real `shoal server` (started here on a free
# loopback port with a throw-away data directory):
#
#   tests/conformance.sh docs [FILE...]   CrateDB documentation examples through crash;
#                                         fails if a required file drops below its floor
#   tests/conformance.sh slt  [FILE...]   SQLite's sqllogictest starter corpus over HTTP (report only)
#
# The corpora live in ../shared/conformance (override with SHOAL_SHARED);
# the venv with crash comes from tests/run-all.sh (.venv).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
SHARED=${SHOAL_SHARED:-$ROOT/../shared}
BIN=${SHOAL_BIN:-$ROOT/target/debug/shoal}
PY=${SHOAL_PYTHON:-$ROOT/.venv/bin/python}
mode=${1:-docs}
shift || true

[ -x "$BIN" ] || { echo "build the server first: cargo build -p shoal-sim --bin shoal" >&2; exit 2; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
data=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$data"' EXIT
# CrateDB's examples import from /tmp/import_data and export to /tmp. COPY TO
# never replaces a file, so the previous run's exports go first.
rm -f /tmp/quotes_*_.json.gz /tmp/quotes_*_.json
"$BIN" server --data "$data/d" --http "127.0.0.1:$port" --node-name crate --cluster-name Testing-CrateDB \
    --copy-root /tmp 2> "$data/server.log" &
pid=$!
for _ in $(seq 1 300); do
    curl -sf "http://127.0.0.1:$port/" > /dev/null 2>&1 && break
    sleep 0.1
done

case "$mode" in
docs)
    # The four files the foundation issue requires, with floors no change may fall below.
    declare -A floor=(
        [general_dql_selects.rst]=58
        [general_dml.rst]=30
        [general_ddl_create-table.rst]=8
        [general_dql_refresh.rst]=3
    )
    files=("$@")
    [ ${#files[@]} -gt 0 ] || files=("${!floor[@]}")
    out=$("$PY" "$SHARED/conformance/cratedb-docs/run.py" --url "http://127.0.0.1:$port" --file "${files[@]}" 2>/dev/null)
    echo "$out"
    status=0
    for f in "${!floor[@]}"; do
        line=$(grep "^$f:" <<< "$out" || true)
        [ -n "$line" ] || continue
        passed=$(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<< "$line")
        if [ "$passed" -lt "${floor[$f]}" ]; then
            echo "REGRESSION: $f passed $passed < floor ${floor[$f]}" >&2
            status=1
        fi
    done
    exit $status
    ;;
slt)
    files=("$@")
    [ ${#files[@]} -gt 0 ] || files=("$SHARED"/conformance/slt/starter/*.slt)
    for f in "${files[@]}"; do
        python3 "$SHARED/conformance/slt/run_http.py" --url "http://127.0.0.1:$port" --refresh --label crate "$f" \
            | tail -1 | sed "s|^|$(basename "$f"): |"
    done
    ;;
*)
    echo "usage: tests/conformance.sh docs|slt [FILE...]" >&2
    exit 2
    ;;
esac
