"""Sphinx configuration for the skexplain documentation.

Build with ``bash scripts/build_docs.sh``; it runs the examples whose cached output in
``docs/auto_examples`` is stale (see ``docs/contributing.rst``, "Building the documentation").
"""

import os
import re
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # the examples run headless, whatever MPLBACKEND says

import skexplain  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for _gallery_hooks
_EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

project = "skexplain"
author = "skexplain developers"
release = skexplain.__version__
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.doctest",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]
autosummary_generate = True
numpydoc_show_class_members = False
# numpydoc cross-references the types in parameter lists; plain-language types are fine.
numpydoc_xref_param_type = False
exclude_patterns = ["_build"]
html_theme = "pydata_sphinx_theme"
html_title = f"skexplain {release}"
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    # the wide mapping and reference tables get the whole width
    "secondary_sidebar_items": {
        "**": ["page-toc", "sourcelink"],
        **{f"coming_from/{name}": [] for name in ("captum", "shap", "tangermeme", "scanpy")},
        "explainer_reference": [],
        # gallery pages: code lines of up to 100 characters fit without scrolling
        **{f"auto_examples/{path.stem}": [] for path in _EXAMPLES.glob("plot_*.py")},
    },
    "navigation_with_keys": False,
}
html_static_path = ["_static"]
html_css_files = ["skexplain.css"]
# The gallery is executed (plot_gallery=True). Sphinx-Gallery skips an example whose copy in
# docs/auto_examples has a matching .md5, so the committed docs/auto_examples is a cache: only
# new or changed examples run. "-D plot_gallery=0" builds without running any.
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"(__init__|/_)",
    "plot_gallery": "True",
    "download_all_examples": False,
    "image_scrapers": ("_gallery_hooks.saved_figure_scraper", "matplotlib"),
    "reset_modules": ("matplotlib", "seaborn", "_gallery_hooks.redirect_output"),
    "reset_modules_order": "both",
    "remove_config_comments": True,
    "thumbnail_size": (320, 224),
    "capture_repr": ("_repr_html_", "__repr__"),
    "show_memory": False,
    "parallel": True,  # as many example processes as sphinx-build -j
}
templates_path = ["_templates"]
# The doctest builder (scripts/build_docs.sh) runs the ".. testcode::" blocks of the
# "Coming from" pages only, not the ">>>" examples of the docstrings.
doctest_test_doctest_blocks = ""

# Docstrings write shapes as in the code, "(n_samples, *feature_shape)" and
# "(n_features_in_,)"; escape the star and the trailing underscore for reStructuredText.
_STAR = re.compile(r"(?<![*`\w])\*(?=\w+[,)])")
_TRAILING_UNDERSCORE = re.compile(r"(?<=[(, ])(\w+)_(?=[,)])")


def _escape_shapes(app, what, name, obj, options, lines):
    for i, line in enumerate(lines):
        parts = line.split("``")  # odd parts are literals, left as they are
        parts[::2] = [_TRAILING_UNDERSCORE.sub(r"\1\\_", _STAR.sub(r"\\*", p)) for p in parts[::2]]
        lines[i] = "``".join(parts)


def _skip_metadata_requests(app, what, name, obj, skip, options):
    # sklearn's generated set_*_request methods document metadata routing, not skexplain.
    return True if name.startswith("set_") and name.endswith("_request") else None


def setup(app):
    app.connect("autodoc-process-docstring", _escape_shapes, priority=400)
    app.connect("autodoc-skip-member", _skip_metadata_requests)
