#!/usr/bin/env bash
# The benchmark: builds httpr (tests/setup.sh), installs each peer client into
# a venv of its own, starts nginx on 127.0.0.1, runs every scenario (S1-S9 of
# BENCH.md) for every client and the wrk/curl ceilings, prints the tables and
# updates bench/RESULTS.md, bench/results/latest.json and the charts
# bench/results/*.png. The soak test (S10) is separate: bench/soak.py.
#
#   bash bench/run.sh              # full run, under 30 minutes on 2 cores
#   bash bench/run.sh --quick      # smoke test of every scenario group, under 3 minutes
#   bash bench/run.sh --only aiohttp --no-write
#   bash bench/run.sh --quick --only S2,S4-64,httpr --no-write   # scenarios and/or clients
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

# 2. the harness's own packages (matplotlib for the charts) into .venv.
pip_quiet() {  # pip without the machine's harmless "Location ... is ignored" noise
    local py=$1 out rc=0
    shift
    out=$("$py" -m pip --disable-pip-version-check "$@" 2>&1) || rc=$?
    grep -v "^WARNING: Location 'file:" <<<"$out" >&2 || true
    return "$rc"
}
HREQ=bench/requirements-harness.txt
h_hash=$(sha256sum "$HREQ" | cut -d' ' -f1)
if [ "$(cat "$ROOT/.venv/.bench-harness.sha256" 2>/dev/null)" != "$h_hash" ]; then
    say "installing $HREQ into .venv"
    if pip_quiet "$ROOT/.venv/bin/python" install -q --only-binary :all: -r "$HREQ"; then
        echo "$h_hash" >"$ROOT/.venv/.bench-harness.sha256"
    else
        say "WARNING: pip install -r $HREQ failed: no charts this run"
    fi
fi

# 3. every peer in a venv of its own (bench/.venvs/NAME from
#    bench/requirements-peers/NAME.txt): no peer shares a process or an import
#    name with httpr or with another peer. A venv is rebuilt from scratch when
#    its requirements file changes, so it holds exactly the pinned packages.
#    A peer that cannot be installed is recorded in .venvs/NAME/.install-failed
#    and its rows are reported as skipped; the run goes on.
for req in bench/requirements-peers/*.txt; do
    name=$(basename "$req" .txt)
    venv="$ROOT/bench/.venvs/$name"
    hash=$(sha256sum "$req" | cut -d' ' -f1)
    if [ "$(cat "$venv/.requirements.sha256" 2>/dev/null)" = "$hash" ] \
            && "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
        continue
    fi
    say "installing $req into bench/.venvs/$name"
    rm -rf "$venv"
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
        mkdir -p "$venv"
        echo "python3 -m venv failed" >"$venv/.install-failed"
        say "WARNING: $name: python3 -m venv failed; its rows will be skipped"
        continue
    fi
    log=$(mktemp -t httpr-bench-pip.XXXXXX)
    if "$venv/bin/python" -m pip --disable-pip-version-check install -q \
            --only-binary :all: -r "$req" >"$log" 2>&1; then
        # Exactly the pins: anything else pip pulled in is reported.
        extra=$("$venv/bin/python" -m pip --disable-pip-version-check freeze 2>/dev/null \
            | tr 'A-Z_' 'a-z-' | sort \
            | comm -23 - <(grep -v '^#' "$req" | tr 'A-Z_' 'a-z-' | sort) || true)
        [ -z "$extra" ] || say "WARNING: $name: installed beyond the pins: $(echo $extra)"
        echo "$hash" >"$venv/.requirements.sha256"
    else
        grep -v "^WARNING: Location 'file:" "$log" | tail -n 3 >"$venv/.install-failed" || true
        say "WARNING: $name could not be installed; its rows will be skipped:"
        sed 's/^/    /' "$venv/.install-failed" >&2
    fi
    rm -f "$log"
done

# 4. the harness (records this exact command in RESULTS.md).
HTTPR_BENCH_COMMAND="bash bench/run.sh${*:+ $(printf '%q ' "$@" | sed 's/ $//')}"
export HTTPR_BENCH_COMMAND
exec "$ROOT/.venv/bin/python" bench/harness.py "$@"
