"""Load a recorded run directory into the console's column layout (the same as live
telemetry: time, state, step, pc_setpoint, t_seq, channels, commands)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hil.frames import HEAD, FrameLayout
from hil.record.recorder import read_events, read_run, read_summary, stand_of_run
from hil.safety import STATE_NAMES
from hil.service.meta import stand_meta


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
    if "t_seq" not in table.column_names:
        rows[:, HEAD.index("t_seq")] = t_seq_from_steps(events, rows[:, 0])
    return {"rows": rows, "meta": meta, "events": events, "outcome": outcome, "loop": (s or {}).get("loop", {}),
            "sequence": recorded_sequence(d, s or {}, stand)}


def recorded_sequence(d: Path, summary: dict[str, Any], stand: Any) -> dict[str, Any]:
    """The run's timeline from its own copy of the sequence (inputs/), parsed as the controller
    parsed it, in the shape ``load`` replies with; ``ok`` False with the reason when there is none."""
    from hil.sequence import load_sequence

    copy = (summary.get("sequence") or {}).get("copy")
    candidates = [d / copy] if copy else sorted((d / "inputs").glob("*.toml"))
    why = "no sequence among the recorded inputs"
    for path in candidates:
        try:
            seq = load_sequence(path, stand)
        except Exception as exc:  # a stand's copy, or a sequence for another stand
            why = f"{path.name}: {exc}"
            continue
        return {"ok": True, "name": seq.name, "sha256": seq.sha256, "steps": [
            {"at": st.at, "what": st.describe(), "line": st.line, "label": st.label} for st in seq.steps]}
    return {"ok": False, "refused": why}


def t_seq_from_steps(events: list[dict[str, Any]], t: np.ndarray) -> np.ndarray:
    """The sequence clock of a recording made before rows carried it: each step's scheduled
    ``t_seq`` at the step, running with the loop between steps (a hold, a prompt or a wait
    between two steps is not seen), NaN before the first step and after the run ends."""
    steps = np.array([(e["t"], e["t_seq"]) for e in events if e.get("kind") == "step"
                      and isinstance(e.get("t_seq"), (int, float))]).reshape(-1, 2)
    out = np.full(len(t), np.nan)
    if not len(steps):
        return out
    k = np.searchsorted(steps[:, 0], t + 1e-6, side="right") - 1  # events keep their time to 1 µs
    end = min((e["t"] for e in events if e.get("kind") in ("sequence_done", "sequence_stopped")), default=np.inf)
    ok = (k >= 0) & (t <= end + 1e-6)
    out[ok] = steps[k[ok], 1] + (t[ok] - steps[k[ok], 0])
    return out
