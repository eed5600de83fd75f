#!/usr/bin/env bash
# Run the whole test suite on a fresh Debian machine: installs what the tests need (Debian
# packages, a venv with the project and its test extras), checks style, runs pytest.
# Usage: ./test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")"

# Debian packages the tests use (.ci/debs.sh, shared with run.sh): the stand's (a venv; the pty
# pairs for Modbus RTU are made in Python, hil/ptypair.py, no socat), the console's (Qt and the xcb libraries, for the end-to-end test in a real X window)
# and the tests' own (an independent Modbus master, a virtual X server).
. .ci/debs.sh
need_debs test.sh "${DEBS_STAND[@]}" "${DEBS_CONSOLE[@]}" "${DEBS_TEST[@]}"

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
