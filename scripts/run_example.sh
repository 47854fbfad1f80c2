#!/usr/bin/env bash
# Install skexplain into .venv and run the main example on bundled real single-cell data.
source "$(dirname "$0")/_venv.sh" examples
python examples/plot_single_cell_gene_importance.py
