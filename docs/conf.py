"""Sphinx configuration for the skexplain documentation.

Build with ``bash scripts/build_docs.sh`` (add ``-D plot_gallery=1`` to run the examples).
"""

import re

import skexplain

project = "skexplain"
author = "skexplain developers"
release = skexplain.__version__
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]
autosummary_generate = True
numpydoc_show_class_members = False
# numpydoc cross-references the types in parameter lists; plain-language types are fine.
numpydoc_xref_param_type = False
exclude_patterns = ["_build"]
html_theme = "alabaster"
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"(__init__|/_)",
    "plot_gallery": "False",
    "download_all_examples": False,
}
templates_path = ["_templates"]

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
