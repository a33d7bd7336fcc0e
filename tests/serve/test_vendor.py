"""The page's plotly.js (``serve/static/vendor``) is what ``scripts/build-plotly-bundle.sh``
says it built: the plotly.js version the installed plotly package ships, the size and sha256 its
README records, and a fraction of the full bundle. The browser tests draw every chart with it."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import plotly

from hydratune.serve.app import PLOTLY_JS, PLOTLY_URL

REBUILD = "rebuild it: bash scripts/build-plotly-bundle.sh"


def header_version(bundle: bytes) -> str:
    return re.search(rb"\* plotly\.js (?:\(([^)]*)\) )?v(\S+)", bundle[:200]).group(2).decode()


def test_the_vendored_plotly_js_is_the_build_its_readme_names():
    bundle = PLOTLY_JS.read_bytes()
    full = (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_bytes()
    readme = (PLOTLY_JS.parent / "README.md").read_text()
    version = header_version(bundle)
    assert version == header_version(full), REBUILD  # the version the report's plotly ships
    assert b"(scatter,bar,contour,parcoords - minified)" in bundle[:200]
    assert f"plotly.js {version} with" in readme and f"plotly.js@{version}" in readme
    assert f"- size: {len(bundle)} bytes" in readme, REBUILD
    sha = hashlib.sha256(bundle).hexdigest()
    assert f"- sha256: {sha}" in readme, REBUILD
    assert 500_000 < len(bundle) < len(full) / 2  # the traces the page draws, not all of them
    assert "MIT License" in (PLOTLY_JS.parent / "LICENSE").read_text()
    assert PLOTLY_URL.endswith(f"/plotly-{version}-{sha[:12]}.min.js")  # kept for good
