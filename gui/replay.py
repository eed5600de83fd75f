"""Load a recorded run directory into the console's column layout (the same as live
telemetry: time, state, step, pc_setpoint, channels, commands)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hil.controller import stand_meta
from hil.frames import FrameLayout
from hil.record.recorder import read_events, read_run, read_summary, stand_of_run
from hil.safety import STATE_NAMES


def load_replay(run_dir: str | Path) -> dict[str, Any]:
    """Rows, meta (from the stand copy in inputs/), events and the outcome of a run."""
    d = Path(run_dir)
    table = read_run(d).table
    stand = stand_of_run(d)
    rows = FrameLayout.of(stand).rows_from_table(table, STATE_NAMES)
    n = table.num_rows
    rate = 1.0 / float(np.median(np.diff(rows[:, 0]))) if n > 2 else stand.loop.rate_hz
    meta = stand_meta(stand, stand.redlines, rate)
    events = read_events(d)
    outcome = ""
    s = read_summary(d)
    if s:
        outcome = f"outcome: {s.get('outcome')}" + (f" — {s.get('abort_reason')}" if s.get("abort_reason") else "")
    # sequence time at each step, to show the T-clock while scrubbing (between two steps it
    # runs with the loop; a hold or a wait after the last step is not seen)
    steps = np.array([(e["t"], e["t_seq"]) for e in events if e.get("kind") == "step"
                      and isinstance(e.get("t_seq"), (int, float))]).reshape(-1, 2)
    return {"rows": rows, "meta": meta, "events": events, "outcome": outcome, "loop": (s or {}).get("loop", {}),
            "steps": steps}


def t_seq_at(steps: np.ndarray, t: float) -> float | None:
    """The T-clock at loop time ``t`` of a recorded run (None before its first step)."""
    k = int(np.searchsorted(steps[:, 0], t, side="right")) - 1 if len(steps) else -1
    return None if k < 0 else float(steps[k, 1] + (t - steps[k, 0]))
