#!/usr/bin/env bash
# The main job on a fresh machine: set up the venv, then run hil-stand against the embedded
# simulated TQ-12-like stand. Extra arguments go to the command that runs.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q -e . >/dev/null
# Until the console (issue 5) lands, the main job is the simulated stand itself, printing its
# own view twice a second; drive it with mbpoll as the README shows.
exec .venv/bin/hil sim --stand configs/stands/sim_tq12.toml --status 0.5 "$@"
