#!/usr/bin/env bash
# Installs everything httpr needs to build, test and benchmark, then builds
# httpr into .venv. Idempotent: a second run only checks and returns.
#
#   bash tests/setup.sh              # system packages, .venv, tools, httpr
#   HTTPR_REBUILD=1 bash tests/setup.sh   # rebuild httpr even if unchanged
#
# Exit status: 0 ready; 3 the environment is ready but httpr could not be
# built (bench/run.sh still runs its other rows); anything else: setup failed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] ERROR: %s\n' "$1" >&2; exit "${2:-1}"; }

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo

# --- 1. system packages (Debian) ------------------------------------------
APT_PACKAGES=(libuv1-dev nginx-light wrk libzstd-dev libbrotli-dev zlib1g-dev libdeflate-dev
              libssl-dev openssl ca-certificates pkg-config curl)
command -v gcc >/dev/null 2>&1 || APT_PACKAGES+=(build-essential)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null \
        | grep -q 'install ok installed' || missing+=("$pkg")
done

POLICY=/usr/sbin/policy-rc.d
made_policy=0
cleanup_policy() {
    if [ "$made_policy" = 1 ]; then $SUDO rm -f "$POLICY"; fi
}
if [ "${#missing[@]}" -gt 0 ]; then
    say "installing system packages: ${missing[*]}"
    # Debian's nginx package starts a system nginx on port 80 when it is
    # installed; the benchmark starts its own, so forbid service starts.
    if [ ! -e "$POLICY" ]; then
        printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
        $SUDO chmod 755 "$POLICY"
        made_policy=1
        trap cleanup_policy EXIT
    fi
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends "${missing[@]}" >/dev/null
    cleanup_policy
    made_policy=0
fi

# --- 2. the virtual environment -------------------------------------------
PYTHON=${PYTHON:-python3}
VENV="$ROOT/.venv"
if ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    say "creating .venv with $("$PYTHON" --version 2>&1)"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV" || die "python3 -m venv failed (is python3-venv installed?)"
fi

# pip, without the machine's harmless "Location ... is ignored" noise.
pip_q() {
    local out rc=0
    out=$("$VENV/bin/python" -m pip --disable-pip-version-check "$@" 2>&1) || rc=$?
    grep -v "^WARNING: Location 'file:" <<<"$out" || true
    return "$rc"
}

REQ_STAMP="$VENV/.httpr-requirements.sha256"
req_hash=$(sha256sum tests/requirements.txt | cut -d' ' -f1)
if [ "$(cat "$REQ_STAMP" 2>/dev/null)" != "$req_hash" ]; then
    say "installing tests/requirements.txt into .venv"
    pip_q install -q -r tests/requirements.txt || die "pip install -r tests/requirements.txt failed"
    echo "$req_hash" >"$REQ_STAMP"
fi

# --- 3. build and install httpr -------------------------------------------
if [ ! -f meson.build ] || [ ! -f pyproject.toml ]; then
    absent=
    [ -f meson.build ] || absent+=" meson.build"
    [ -f pyproject.toml ] || absent+=" pyproject.toml"
    die "cannot build httpr yet: missing at the repo root:$absent (system packages and .venv tools are ready)" 3
fi

# Hash of everything the build reads; the stamp lives inside .venv so that a
# new .venv always gets a fresh build.
source_hash() {
    local paths=() p
    for p in src vendor python meson.build pyproject.toml meson.options \
             meson_options.txt tests/requirements.txt; do
        [ -e "$p" ] && paths+=("$p")
    done
    find "${paths[@]}" -type f ! -name '*.pyc' ! -path '*/__pycache__/*' -print0 \
        | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1
}

BUILD_STAMP="$VENV/.httpr-build.sha256"
src_hash=$(source_hash)
installed=1
"$VENV/bin/python" -c 'import importlib.util as u, sys; sys.exit(u.find_spec("httpr") is None)' \
    >/dev/null 2>&1 || installed=0

if [ "${HTTPR_REBUILD:-0}" = 1 ] || [ "$installed" = 0 ] \
        || [ "$(cat "$BUILD_STAMP" 2>/dev/null)" != "$src_hash" ]; then
    rm -f "$BUILD_STAMP"
    say "building and installing httpr into .venv"
    # Persistent meson build dir (gitignored) so that rebuilds are
    # incremental; wiped when the meson version that made it changes.
    WHEEL_BUILD="$ROOT/build/wheel"
    meson_version=$("$VENV/bin/meson" --version)
    if [ -d "$WHEEL_BUILD" ] && \
            [ "$(cat "$WHEEL_BUILD/.httpr-meson-version" 2>/dev/null)" != "$meson_version" ]; then
        rm -rf "$WHEEL_BUILD"
    fi
    mkdir -p "$WHEEL_BUILD"
    echo "$meson_version" >"$WHEEL_BUILD/.httpr-meson-version"
    log=$(mktemp -t httpr-build.XXXXXX.log)
    if ! PATH="$VENV/bin:$PATH" "$VENV/bin/python" -m pip --disable-pip-version-check \
            install --no-build-isolation --force-reinstall --no-deps \
            -Cbuild-dir="$WHEEL_BUILD" . >"$log" 2>&1; then
        grep -v "^WARNING: Location 'file:" "$log" | tail -n 200 >&2 || true
        die "building httpr failed (last 200 lines above; full log: $log)" 3
    fi
    rm -f "$log"
    echo "$src_hash" >"$BUILD_STAMP"
    say "httpr installed: $("$VENV/bin/python" -c 'import httpr, sys; sys.stdout.write(httpr.__file__)' 2>&1 || true)"
else
    say "httpr is up to date in .venv (HTTPR_REBUILD=1 forces a rebuild)"
fi
