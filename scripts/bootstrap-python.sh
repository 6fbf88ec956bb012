#!/usr/bin/env bash
# Creates the project's virtual environment. On Debian, `python3 -m venv` needs the
# python3-venv package: install it when missing and we are allowed to (root + apt).
set -euo pipefail
python=${1:-python3}
venv=${2:-.venv}
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import sys; assert sys.version_info >= (3, 11)'; then
  exit 0
fi
"$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "wpec_invoicing needs Python 3.11 or newer")'
if ! "$python" -m venv "$venv" 2>/dev/null; then
  rm -rf "$venv"
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    "$python" -m venv "$venv"
  else
    echo "cannot create a virtual environment: install python3-venv (sudo apt-get install python3-venv)" >&2
    exit 1
  fi
fi
