#!/usr/bin/env bash
# The main job on a fresh machine: install what the console and the default stand need (Debian
# packages, .ci/debs.sh — as root or with sudo; otherwise it names them with the apt-get command
# and stops), set up .venv, then open the test console on the embedded simulated TQ-12-like stand
# (it starts the simulator and the controller itself and stops them when you close it). Without a
# display it runs the three-burn sequence headless instead (and needs no Qt libraries for that).
# Extra arguments go to `hil gui` (e.g. --sequence configs/sequences/tq12_throttle.toml).
set -euo pipefail
cd "$(dirname "$0")"
. .ci/debs.sh
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}${QT_QPA_PLATFORM:-}" ]; then
  need_debs run.sh "${DEBS_STAND[@]}" "${DEBS_CONSOLE[@]}" || exit 1
else
  need_debs run.sh "${DEBS_STAND[@]}" || exit 1
fi
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q -e . >/dev/null
exec .venv/bin/hil gui --sequence configs/sequences/tq12_three_burn.toml "$@"
