#!/usr/bin/env bash
# Install skexplain with its docs extras into .venv and build the HTML documentation into
# docs/_build/html; Sphinx warnings are errors (-W). Extra arguments go to sphinx-build.
#
# The gallery is executed: every example page shows what the example prints and plots.
# Running every example takes about 30 CPU-minutes, so Sphinx-Gallery's output is committed in
# docs/auto_examples and used as a cache (docs/contributing.rst, "Building the documentation"):
#   - for each example Sphinx-Gallery keeps a copy (plot_x.py) and its checksum (plot_x.py.md5)
#     next to the generated page (plot_x.rst), figures (images/), notebook and code-object
#     index (plot_x.codeobj.json); an example whose source still matches the stored checksum
#     is NOT run again, its committed page and figures are reused;
#   - a new or changed example has no matching checksum, so it is run here (also in CI, which
#     calls this script after the tests): the built docs are always current, a stale cache only
#     costs time. The script names the stale examples before building; commit the refreshed
#     docs/auto_examples after the build so that the next build skips them.
#   - CI budget: tests take under 10 min; with every example stale the gallery takes about
#     40 min on 2 CPUs, so even a cold build stays well within CI's 90 minutes.
#
# Environment:
#   SKEXPLAIN_DOCS_REQUIRE_CACHE=1  fail (before building) when an example is stale or new
#                                   instead of running it, to check that the cache is committed.
# Useful arguments:
#   -D plot_gallery=0                                   run no example (a quick check of the text)
#   -D sphinx_gallery_conf.filename_pattern=plot_deepresolve   run only matching stale examples
#
# The examples run with matplotlib's Agg backend and write their own files (tables, PNGs) to
# docs/_build/gallery_output/, never to the source tree (docs/_gallery_hooks.py).
source "$(dirname "$0")/_venv.sh" docs
export MPLBACKEND=Agg
rm -rf docs/_build docs/generated

python - <<'PY'
"""Drop the cache of deleted examples and list the stale ones."""
import os
from pathlib import Path

from sphinx_gallery.utils import get_md5sum

examples, cache = Path("examples"), Path("docs/auto_examples")
sources = {p.stem for p in examples.glob("plot_*.py")}
for old in cache.glob("plot_*"):
    if old.name.split(".")[0] not in sources:
        old.unlink()
        for image in (cache / "images").glob(f"**/sphx_glr_{old.name.split('.')[0]}_*"):
            image.unlink()
stale = []
for name in sorted(sources):
    md5 = cache / f"{name}.py.md5"
    current = md5.exists() and md5.read_text() == get_md5sum(examples / f"{name}.py", mode="t")
    if not current:
        stale.append(name)
if stale:
    print("Examples without a current cache in docs/auto_examples (they run in this build):")
    print("\n".join(f"  examples/{name}.py" for name in stale))
    if os.environ.get("SKEXPLAIN_DOCS_REQUIRE_CACHE") == "1":
        raise SystemExit("SKEXPLAIN_DOCS_REQUIRE_CACHE=1: build the docs and commit docs/auto_examples")
else:
    print("Every example's cached output in docs/auto_examples is current.")
PY

start=$SECONDS
sphinx-build -b html -W --keep-going "$@" docs docs/_build/html
echo "HTML built in $((SECONDS - start)) s: docs/_build/html/index.html"

# The "Coming from" pages compare other libraries' calls with ours in ".. testcode::"
# blocks; run them (no example runs here: plot_gallery=0).
start=$SECONDS
sphinx-build -b doctest -W --keep-going -D plot_gallery=0 docs docs/_build/doctest \
    docs/coming_from/*.rst
echo "Coming-from pages checked in $((SECONDS - start)) s"
