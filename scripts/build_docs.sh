#!/usr/bin/env bash
# Install skexplain with its docs extras into .venv and build the HTML documentation into
# docs/_build/html; warnings are errors. The examples are not run unless "-D plot_gallery=1"
# is passed (extra arguments go to sphinx-build).
source "$(dirname "$0")/_venv.sh" docs
rm -rf docs/_build docs/generated docs/auto_examples
sphinx-build -b html -W --keep-going -D plot_gallery=0 "$@" docs docs/_build/html
