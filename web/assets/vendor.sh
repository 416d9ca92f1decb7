#!/usr/bin/env bash
# Re-vendors the dashboard's third-party files from npm, pinned by
# package-lock.json: `npm ci`, then copies the built files and their
# licence into ../static/vendor/ (committed, so `go build` needs no npm).
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --ignore-scripts
out=../static/vendor
mkdir -p "$out"
cp node_modules/uplot/dist/uPlot.iife.min.js "$out/uPlot.iife.min.js"
cp node_modules/uplot/dist/uPlot.min.css "$out/uPlot.min.css"
cp node_modules/uplot/LICENSE "$out/uPlot.LICENSE"
v=$(node -p 'require("./node_modules/uplot/package.json").version')
echo "uPlot $v (npm uplot@$v, MIT, https://github.com/leeoniya/uPlot)" > "$out/README"
rm -rf node_modules
echo "vendored uPlot $v into $out"
