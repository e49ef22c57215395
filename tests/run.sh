#!/usr/bin/env bash
# The whole test suite: setup, C build and unit tests (meson test), ruff and
# mypy, then pytest. Exits non-zero if any step fails.
#
#   bash tests/run.sh                 # everything
#   bash tests/run.sh -k redirect -x  # extra arguments go to pytest
#
# With CI=true the C tests are built with -Dwerror=true.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

say() { printf '[run] %s\n' "$*"; }

bash tests/setup.sh || {
    rc=$?
    say "FAILED: tests/setup.sh exited with $rc (see the [setup] lines above)"
    exit "$rc"
}

export PATH="$ROOT/.venv/bin:$PATH"
failed=()

# --- C unit tests ---------------------------------------------------------
CBUILD=build/ctests
werror=false
[ "${CI:-}" = true ] && werror=true
if [ -f meson.build ]; then
    if [ -f "$CBUILD/meson-private/coredata.dat" ]; then
        meson configure "$CBUILD" -Dwerror="$werror" >/dev/null \
            || meson setup --wipe "$CBUILD" -Dwerror="$werror" || failed+=("meson setup")
    else
        meson setup "$CBUILD" -Dwerror="$werror" || failed+=("meson setup")
    fi
    if [ "${#failed[@]}" -eq 0 ]; then
        # Build every target first: meson test alone builds only what the
        # tests link, and the extension must compile warning-free too.
        say "C build and tests (werror=$werror)"
        if meson compile -C "$CBUILD"; then
            meson test -C "$CBUILD" --print-errorlogs || failed+=("meson test")
        else
            failed+=("meson compile")
        fi
    fi
else
    say "no meson.build: skipping the C tests"
    failed+=("meson.build missing")
fi

# --- lint (STYLE.md: ruff and mypy are part of the test command) ----------
say "ruff and mypy"
.venv/bin/ruff check --cache-dir .venv/.ruff_cache python tests bench || failed+=("ruff")
.venv/bin/mypy --cache-dir .venv/.mypy_cache python/httpr || failed+=("mypy")
# the public API as a user types it (a wrong annotation in httpr fails here)
.venv/bin/mypy --strict --cache-dir .venv/.mypy_cache tests/typing/use_public_api.py \
    || failed+=("mypy (public API use)")

# --- Python tests ---------------------------------------------------------
say "pytest"
.venv/bin/python -m pytest tests -q -o cache_dir=.venv/.pytest_cache "$@"
rc=$?
if [ "$rc" -eq 5 ] && ! compgen -G 'tests/test_*.py' >/dev/null; then
    say "pytest collected no tests: there are no tests/test_*.py yet"
elif [ "$rc" -ne 0 ]; then
    failed+=("pytest (exit $rc)")
fi

if [ "${#failed[@]}" -gt 0 ]; then
    say "FAILED: ${failed[*]}"
    exit 1
fi
say "all passed"
