"""The client meta schema: what a client (the console, a replay of a recorded run) needs to read
a stand's telemetry rows and show its channels, actuators, redlines and checkouts.

The controller service answers ``meta`` with it, and a replay builds the same from a run's own
stand file, so a recorded run and a live stand are shown by one code path.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from hil.frames import FrameLayout
from hil.safety import STATE_NAMES
from hil.stand import Redline, StandConfig
from hil.stand.checkable import timed_valves


def stand_meta(stand: StandConfig, redlines: tuple[Redline, ...], rate_hz: float) -> dict[str, Any]:
    """What a client needs to show a stand's data: the row layout of telemetry (and of a replay),
    channels, actuators, redlines, and what a checkout would zero and time."""
    return {"stand": stand.name, "states": list(STATE_NAMES),
            "columns": list(FrameLayout.of(stand).columns),
            "channels": [{"name": c.name, "units": c.units, "valid": list(c.valid), "description": c.description,
                          "role": c.role, "plot": stand.plot_of(c)} for c in stand.channels],
            "actuators": [{"name": a.name, "kind": a.kind, "range": list(a.range), "units": a.units,
                           "propellant": a.propellant, "feedback": a.feedback, "feeds": a.feeds}
                          for a in stand.actuators],
            "pid": None if stand.pid is None else {
                "components": [dataclasses.asdict(c) for c in stand.pid.components],
                "lines": [{"fluid": ln.fluid, "path": list(ln.path)} for ln in stand.pid.lines]},
            "pc_channels": list(stand.limits.pc_channels or (stand.limits.pc_channel,)),
            "redlines": [{"name": r.name, "channels": list(r.channels), "min": r.min, "max": r.max,
                          "min_frac": r.min_frac, "max_frac": r.max_frac} for r in redlines],
            "pc_rated": stand.limits.pc_rated, "pc_channel": stand.limits.pc_channel, "rate_hz": rate_hz,
            "checkout": {"zero": [c.name for c in stand.channels if c.zero_limit > 0],
                         "valves": [a.name for a in timed_valves(stand)]}}
