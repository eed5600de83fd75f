#!/usr/bin/env bash
# The main job on a fresh machine: set up .venv, then open the test console on the embedded
# simulated TQ-12-like stand (it starts the simulator and the controller itself and stops them
# when you close it). Without a display it runs the three-burn sequence headless instead.
# Extra arguments go to `hil gui` (e.g. --sequence configs/sequences/tq12_throttle.toml).
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q -e . >/dev/null
exec .venv/bin/hil gui --sequence configs/sequences/tq12_three_burn.toml "$@"
