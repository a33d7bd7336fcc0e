#!/usr/bin/env bash
# The plotly.js the `hydratune serve` page loads: core (scatter) + bar + contour + parcoords,
# the only trace types the page draws, built as plotly.js builds its own partial bundles
# (esbuild with its plugins: inline CSS, GLSL shaders, NODE_DEBUG) and minified. The full
# bundle is 4.8 MB, and V8 compiling it was most of a first visit (issue 27); this one is a
# third of that. The version is the one the installed plotly package ships (the report keeps
# that package's own plotly.min.js), unless given as the first argument.
#
#   bash scripts/build-plotly-bundle.sh     # [VERSION]; PYTHON=.venv/bin/python (else python3)
#
# npm installs into a temporary directory, never into the repo; node and the npm registry are
# all it needs. Writes src/hydratune/serve/static/vendor/ (plotly.min.js, its MIT license,
# README.md naming the version, the command, the size and the sha256) and prints size and sha256.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
vendor=$repo/src/hydratune/serve/static/vendor
python=${PYTHON:-$repo/.venv/bin/python} # the environment whose plotly the report uses
command -v "$python" >/dev/null || python=python3
traces=(bar contour parcoords) # scatter is in core

if [ $# -ge 1 ]; then
  version=$1
else # the header of the installed package's bundle: "* plotly.js v4.1.1"
  version=$("$python" -c 'import pathlib, re, plotly
head = (pathlib.Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_text()[:200]
print(re.search(r"plotly\.js v(\S+)", head).group(1))')
fi

# A fixed directory: plotly.js's inline-CSS plugin names its <style> by the CSS file's absolute
# path, so the same path builds the same bytes (the sha256 in the README can be checked again)
work=/tmp/hydratune-plotly-bundle
rm -rf "$work" && mkdir "$work"
trap 'rm -rf "$work"' EXIT
cd "$work"
echo '{"private": true}' >package.json

# The build tools at the ranges that plotly.js version's own package.json names
tools=$(npm view "plotly.js@$version" devDependencies --json | node -e '
  const dev = JSON.parse(require("fs").readFileSync(0, "utf8"));
  const names = ["esbuild", "esbuild-plugin-glsl", "esbuild-plugin-inline-css",
    "esbuild-plugin-environment", "stream-browserify", "buffer"];
  console.log(names.map((n) => `${n}@${dev[n]}`).join(" "));')
# shellcheck disable=SC2086 # one word per tool
npm install --silent --no-audit --no-fund --ignore-scripts "plotly.js@$version" $tools

{
  echo "var Plotly = require('plotly.js/lib/core');"
  echo "Plotly.register(["
  for t in "${traces[@]}"; do echo "  require('plotly.js/lib/$t'),"; done
  echo "]);"
  echo "module.exports = Plotly;"
} >index.js

# plotly.js's esbuild-config.js (its esbuildConfig), minified; it needs tasks/ from its git
# repository, which npm does not ship, so its settings are restated here.
cat >build.mjs <<'EOF'
import { build } from "esbuild";
import { environmentPlugin } from "esbuild-plugin-environment";
import { glsl } from "esbuild-plugin-glsl";
import InlineCSSPlugin from "esbuild-plugin-inline-css";

await build({
  entryPoints: ["index.js"],
  outfile: "plotly.min.js",
  format: "iife",
  globalName: "Plotly",
  bundle: true,
  minify: true,
  legalComments: "eof", // the bundled packages' license notices, as in plotly.js's dist
  plugins: [InlineCSSPlugin(), glsl({ minify: true }), environmentPlugin({ NODE_DEBUG: false })],
  alias: { regl: "@plotly/regl", stream: "stream-browserify" },
  define: { global: "window", "define.amd": "false" },
  target: "es2016",
  logLevel: "warning",
});
EOF
node build.mjs

# plotly.js's own license header (as its dist bundles have), naming what this one holds
names=$(IFS=,; echo "scatter,${traces[*]}")
sed -n '1,/\*\//p' node_modules/plotly.js/dist/plotly.min.js \
  | sed "s|plotly\.js v|plotly.js ($names - minified) v|" >bundle.js
cat plotly.min.js >>bundle.js
grep -q "($names - minified) v$version\$" bundle.js || { echo "no version header" >&2; exit 1; }

mkdir -p "$vendor"
cp bundle.js "$vendor/plotly.min.js"
cp node_modules/plotly.js/LICENSE "$vendor/LICENSE"
size=$(stat -c %s "$vendor/plotly.min.js")
sha=$(sha256sum "$vendor/plotly.min.js" | cut -d' ' -f1)
cat >"$vendor/README.md" <<EOF
# plotly.js for the \`hydratune serve\` page

plotly.js $version with the trace types $names, minified; built by
\`bash scripts/build-plotly-bundle.sh\` from npm's \`plotly.js@$version\`. MIT license (LICENSE);
the bundled packages' notices are at the end of plotly.min.js.

- size: $size bytes
- sha256: $sha
EOF
echo "plotly.js $version ($names): $vendor/plotly.min.js, $size bytes, sha256 $sha"
