#!/usr/bin/env bash
# Run the whole test suite on a fresh Debian machine: installs what the tests need (Debian
# packages, a venv with the project and its test extras), checks style, runs pytest.
# Usage: ./test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")"

# Debian packages the tests use: mbpoll (an independent Modbus master; the pty pairs for
# Modbus RTU are made in Python, hil/ptypair.py, no socat), the libraries Qt needs to start at all, and Xvfb with the xcb libraries for
# the end-to-end test of the console in a real X window (reference/toolchain.md).
debs=(mbpoll libgl1 libegl1 libglib2.0-0 libfontconfig1 libfreetype6 libdbus-1-3 libx11-6 libxkbcommon0
      xvfb xauth libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1
      libxcb-render-util0 libxcb-render0 libxcb-shape0 libxcb-util1 libxcb-xkb1)
missing=()
for d in "${debs[@]}"; do dpkg -s "$d" >/dev/null 2>&1 || missing+=("$d"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "test.sh: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[test]'

echo "test.sh: ruff"
.venv/bin/ruff check .

echo "test.sh: mypy"
.venv/bin/mypy

echo "test.sh: pytest"
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
if [ $rc -eq 5 ]; then
  echo "test.sh: pytest collected no tests: that is a failure, not a pass" >&2
  exit 1
fi
exit $rc
