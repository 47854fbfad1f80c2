# Sourced by the run_*.sh scripts: create .venv (once) and install skexplain with the given extras.
# TORCH_SPEC picks the torch build (default torch==2.13.0; a CPU build is enough everywhere).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
python -m pip install --quiet "${TORCH_SPEC:-torch==2.13.0}"
python -m pip install --quiet -e ".[$1]"
