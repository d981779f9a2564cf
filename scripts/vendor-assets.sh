#!/usr/bin/env bash
# Copy the console's pinned front-end files from the npm registry into the repository.
#
#   scripts/vendor-assets.sh
#
# The files land in torouter/console/static/vendor/ (and axe-core, used only by the browser
# tests, in tests/console/vendor/), each beside its license, and are committed: neither CI nor
# a user needs Node. Run it again only to change a version below; `npm pack` fetches the
# registry tarball of exactly that version (no install scripts run, no dependency tree).
set -euo pipefail
cd "$(dirname "$0")/.."

HTMX=2.0.11        # htmx.org: polling, partial updates (hx-* attributes, no eval)
ALPINE=3.17.4      # @alpinejs/csp: the Alpine build that needs no unsafe-eval
UPLOT=1.6.32       # uplot: charts drawn from the page's own tables
AXE=4.14.1         # axe-core: accessibility checks in the browser tests

static=torouter/console/static/vendor
tests=tests/console/vendor
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$static" "$tests"

unpack() {  # unpack <package@version> → directory of the unpacked tarball
  local dir="$work/$(echo "$1" | tr '/@' '__')"
  mkdir -p "$dir"
  (cd "$dir" && npm pack "$1" --silent >/dev/null && tar xzf ./*.tgz)
  echo "$dir/package"
}

mit_notice() {  # mit_notice <holder>: for a package that ships no LICENSE file of its own
  printf 'MIT License\n\nCopyright (c) %s\n\n' "$1"
  printf '%s\n' \
    'Permission is hereby granted, free of charge, to any person obtaining a copy of this' \
    'software and associated documentation files (the "Software"), to deal in the Software' \
    'without restriction, including without limitation the rights to use, copy, modify, merge,' \
    'publish, distribute, sublicense, and/or sell copies of the Software, and to permit persons' \
    'to whom the Software is furnished to do so, subject to the following conditions:' \
    '' \
    'The above copyright notice and this permission notice shall be included in all copies or' \
    'substantial portions of the Software.' \
    '' \
    'THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED,' \
    'INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR' \
    'PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE' \
    'FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR' \
    'OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER' \
    'DEALINGS IN THE SOFTWARE.'
}

p=$(unpack "htmx.org@$HTMX")
cp "$p/dist/htmx.min.js" "$static/htmx.min.js"
cp "$p/LICENSE" "$static/htmx.LICENSE"

p=$(unpack "@alpinejs/csp@$ALPINE")
cp "$p/dist/cdn.min.js" "$static/alpine-csp.min.js"
# The package declares "license": "MIT" (author Caleb Porzio) but ships no license file.
grep -q '"license": "MIT"' "$p/package.json"
mit_notice "Caleb Porzio and contributors" > "$static/alpine-csp.LICENSE"

p=$(unpack "uplot@$UPLOT")
cp "$p/dist/uPlot.iife.min.js" "$static/uplot.min.js"
cp "$p/dist/uPlot.min.css" "$static/uplot.min.css"
cp "$p/LICENSE" "$static/uplot.LICENSE"

p=$(unpack "axe-core@$AXE")
cp "$p/axe.min.js" "$tests/axe.min.js"
cp "$p/LICENSE" "$tests/axe.LICENSE"

cat > "$static/VERSIONS" <<V
htmx.org $HTMX
@alpinejs/csp $ALPINE
uplot $UPLOT
axe-core $AXE (tests/console/vendor)
V
echo "vendored: htmx.org $HTMX, @alpinejs/csp $ALPINE, uplot $UPLOT, axe-core $AXE"
