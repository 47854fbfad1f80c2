#!/usr/bin/env bash
# Install skexplain with its test extras into .venv, lint, then run the test suite.
source "$(dirname "$0")/_venv.sh" test
ruff check .
python -m pytest "$@"
