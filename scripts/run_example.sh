#!/usr/bin/env bash
# Install skexplain into .venv and run an example (default: the main one, on bundled real
# single-cell data); pass another example's path to run it instead.
source "$(dirname "$0")/_venv.sh" examples
python "${1:-examples/plot_single_cell_gene_importance.py}"
