#!/usr/bin/env bash
# Refreshes vendor/llhttp from the PyPI sdist of httptools, which vendors
# llhttp's generated release sources (llhttp itself publishes none to PyPI).
#
#   bash vendor/llhttp/refresh.sh 0.9.0
#
# Copies include/llhttp.h, src/{api,http,llhttp}.c, LICENSE, LICENSE-MIT and
# README.md over this directory unmodified, then prints what to write into
# VERSION.
set -euo pipefail

if [ "$#" -ne 1 ]; then
    echo "usage: $0 HTTPTOOLS_VERSION   (e.g. 0.9.0)" >&2
    exit 2
fi
ver=$1
dest=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
pip=(python3 -m pip)
[ -x "$dest/../../.venv/bin/python" ] && pip=("$dest/../../.venv/bin/python" -m pip)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"${pip[@]}" download --quiet --disable-pip-version-check --no-binary :all: \
    --no-deps -d "$tmp" "httptools==$ver" 2>&1 \
    | grep -v "^WARNING: Location 'file:" || true
sdist=$(find "$tmp" -maxdepth 1 -name 'httptools-*.tar.gz' | head -n 1)
[ -n "$sdist" ] || { echo "no httptools-$ver sdist was downloaded" >&2; exit 1; }
tar -xzf "$sdist" -C "$tmp"
src="$tmp/httptools-$ver/vendor/llhttp"
[ -d "$src" ] || { echo "the sdist has no vendor/llhttp/" >&2; exit 1; }

files=(include/llhttp.h src/api.c src/http.c src/llhttp.c LICENSE LICENSE-MIT README.md)
for f in "${files[@]}"; do
    [ -f "$src/$f" ] || { echo "the sdist lacks vendor/llhttp/$f" >&2; exit 1; }
done
for f in "${files[@]}"; do
    mkdir -p "$dest/$(dirname "$f")"
    cp "$src/$f" "$dest/$f"
done

echo "copied into $dest:"
printf '  %s\n' "${files[@]}"
echo
grep -E '^#define LLHTTP_VERSION_(MAJOR|MINOR|PATCH)' "$dest/include/llhttp.h"
echo
echo "sdist: $(basename "$sdist")"
echo "sha256 $(sha256sum "$sdist" | cut -d' ' -f1)"
echo
echo "Now update vendor/llhttp/VERSION with the llhttp version and sha256 above."
