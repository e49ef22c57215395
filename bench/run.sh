#!/usr/bin/env bash
# The benchmark: builds httpr (tests/setup.sh), installs the peer clients into
# their own venv, starts nginx on 127.0.0.1, runs every client and the wrk
# ceiling, prints the table and updates bench/RESULTS.md and
# bench/results/latest.json.
#
#   bash bench/run.sh              # full run, about 15 minutes on 2 cores
#   bash bench/run.sh --quick      # smoke test, about 2 minutes
#   bash bench/run.sh --only aiohttp --no-write
#   bash bench/run.sh --quick --only S2,httpr --no-write   # scenarios and/or clients
#   bash bench/run.sh --help       # every option
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

say() { printf '[bench] %s\n' "$*"; }

# 1. system packages, .venv, httpr. Exit 3 = everything but httpr is ready:
#    go on, the httpr rows then say why they did not run.
rc=0
bash tests/setup.sh || rc=$?
if [ "$rc" -eq 3 ]; then
    say "WARNING: httpr could not be built (see [setup] above); its rows will be marked failed"
    export HTTPR_BENCH_BUILD_FAILED=1
elif [ "$rc" -ne 0 ]; then
    say "tests/setup.sh failed (exit $rc)"
    exit "$rc"
fi

# 2. peers in an isolated venv (their own process, their own packages).
PEERS="$ROOT/bench/.venvs/aiohttp"
REQ=bench/requirements-peers.txt
if ! "$PEERS/bin/python" -c 'import sys' >/dev/null 2>&1; then
    say "creating $PEERS"
    rm -rf "$PEERS"
    python3 -m venv "$PEERS"
fi
req_hash=$(sha256sum "$REQ" | cut -d' ' -f1)
if [ "$(cat "$PEERS/.requirements.sha256" 2>/dev/null)" != "$req_hash" ]; then
    say "installing $REQ"
    out=$("$PEERS/bin/python" -m pip --disable-pip-version-check install -q -r "$REQ" 2>&1) || {
        grep -v "^WARNING: Location 'file:" <<<"$out" >&2 || true
        say "pip install -r $REQ failed"
        exit 1
    }
    echo "$req_hash" >"$PEERS/.requirements.sha256"
fi

# 3. the harness (records this exact command in RESULTS.md).
HTTPR_BENCH_COMMAND="bash bench/run.sh${*:+ $(printf '%q ' "$@" | sed 's/ $//')}"
export HTTPR_BENCH_COMMAND
exec "$ROOT/.venv/bin/python" bench/harness.py "$@"
