#!/usr/bin/env bash
# Plots a trainer's JSON-lines log (loss and accuracy against epochs) into a PNG:
#   tools/plot/plot.sh LOG.jsonl -o OUT.png [--title T]
# Uses Debian's /usr/bin/python3 on purpose: a python3 earlier on PATH (pyenv, a venv)
# usually lacks matplotlib. Installs python3-matplotlib first if that python lacks it.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON=/usr/bin/python3

if [[ ! -x "$PYTHON" ]]; then
  echo "plot: $PYTHON not found; install Debian's python3 and python3-matplotlib." >&2
  exit 1
fi

if ! "$PYTHON" -c 'import matplotlib' 2>/dev/null; then
  if [[ $(id -u) -eq 0 ]]; then
    SUDO=()
  elif command -v sudo >/dev/null; then
    SUDO=(sudo)
  else
    echo "plot: $PYTHON cannot import matplotlib, and installing python3-matplotlib" \
         "needs root or sudo. Run as root: apt-get install python3-matplotlib" >&2
    exit 1
  fi
  echo "plot: installing python3-matplotlib for $PYTHON" >&2
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends python3-matplotlib
  if ! "$PYTHON" -c 'import matplotlib' 2>/dev/null; then
    echo "plot: python3-matplotlib is installed but $PYTHON still cannot import matplotlib." >&2
    exit 1
  fi
fi

exec "$PYTHON" "$here/plot_training.py" "$@"
