"""The announcement that a run completed: "run complete: N burns, outcome completed", from the
run's own summary.json (written once, whole, when the run closes), so the console says what the
record says. A console on another machine, which cannot read the run directory, says so."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

WAIT_S = 15.0  # how long the summary may take to appear (the burns are measured first)


class RunNotice:
    """Fed the controller's status and events; ``poll`` gives the text once, when it is known."""

    def __init__(self) -> None:
        self.run_dir = ""  # the run being recorded now
        self.pending: tuple[str, float] | None = None  # (run dir, give up at)

    def on_status(self, st: dict[str, Any]) -> None:
        if st.get("run_dir"):
            self.run_dir = str(st["run_dir"])

    def on_event(self, ev: dict[str, Any]) -> None:
        """The sequence ran to its end: the run completes when the stand is SAFE again."""
        if ev.get("kind") == "sequence_done":
            self.pending = (self.run_dir, time.monotonic() + WAIT_S)

    def poll(self, state: str | None) -> str | None:
        if self.pending is None or state != "SAFE":
            return None
        run_dir, give_up = self.pending
        summary = Path(run_dir) / "summary.json" if run_dir else None
        if summary is not None and summary.exists():
            self.pending = None
            try:
                s = json.loads(summary.read_text())
            except (OSError, ValueError) as exc:
                return f"run complete — its summary cannot be read ({exc})"
            burns = s.get("burns")
            n = f"{len(burns)} burns" if isinstance(burns, list) else "burns not measured"
            why = f" — {s['abort_reason']}" if s.get("abort_reason") else ""
            return f"run complete: {n}, outcome {s.get('outcome', '?')}{why} ({Path(run_dir).name})"
        if time.monotonic() > give_up:
            self.pending = None
            return "run complete (sequence done); its summary is not readable from this console"
        return None
