"""Load a recorded run directory into the console's column layout (the same as live
telemetry: time, state, step, pc_setpoint, channels, commands)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hil.controller import stand_meta
from hil.recorder import read_events, read_run, read_summary, stand_of_run
from hil.safety import STATE_NAMES


def load_replay(run_dir: str | Path) -> dict[str, Any]:
    """Rows, meta (from the stand copy in inputs/), events and the outcome of a run."""
    d = Path(run_dir)
    table = read_run(d).table
    stand = stand_of_run(d)
    names = table.column_names
    chans = [c.name for c in stand.channels]
    cmds = [f"cmd.{a.name}" for a in stand.actuators]
    n = table.num_rows
    rows = np.full((n, 4 + len(chans) + len(cmds)), np.nan)
    rows[:, 0] = table.column("time").to_numpy()
    state = np.array(table.column("state").to_pylist(), dtype=object)
    rows[:, 1] = [STATE_NAMES.index(s) if s in STATE_NAMES else np.nan for s in state]
    rows[:, 2] = table.column("step").to_numpy()
    if "pc_setpoint" in names:
        rows[:, 3] = table.column("pc_setpoint").to_numpy()
    for j, c in enumerate(chans + cmds):
        rows[:, 4 + j] = table.column(c).to_numpy()
    rate = 1.0 / float(np.median(np.diff(rows[:, 0]))) if n > 2 else stand.loop.rate_hz
    meta = stand_meta(stand, stand.redlines, rate)
    events = read_events(d)
    outcome = ""
    s = read_summary(d)
    if s:
        outcome = f"outcome: {s.get('outcome')}" + (f" — {s.get('abort_reason')}" if s.get("abort_reason") else "")
    return {"rows": rows, "meta": meta, "events": events, "outcome": outcome}
