"""One test, one data set: the controller service's recording split per run.

A service (the console's controller) lives for a whole test day and runs many sequences. Its
session log keeps everything, continuously; beside it each run — from ARM to the stand being
SAFE again (or latched in FAULT) — gets a run directory of its own, laid out like `hil run`'s:
data.arrow, events.jsonl, summary.json (outcome, reasons, burns, the loop's figures over the
run), and inputs/ with the sequence and stand files as run and their SHA-256. `hil report` and
`hil replay` read it like any other run.

The per-cycle work stays on the loop thread and is a second row copy; closing a run (the
writer's last batch, reading the run back for its burn metrics, summary.json) happens on a
helper thread, so the cycle that ends a run is not late for it.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from hil.record.recorder import Recorder, new_recorder
from hil.record.summary import RunEvents, common_facts, controller_facts, stand_record, write_summary

if TYPE_CHECKING:
    from hil.controller.snapshot import Snapshot
    from hil.stand import StandConfig

RUN_ENDS = ("SAFE", "FAULT")


class SnapshotSource(Protocol):
    """The controller whose runs are recorded, as far as the recorder reads it (hil/controller/controller.py)."""

    def snapshot(self, *, detail: bool = True, loop_summary: bool = False,
                 last_cycles: int | None = None) -> Snapshot: ...


class RunRecorder:
    """Stands where the loop expects its recorder: rows and events go to the session log and,
    while a run is open, to the run's directory. ``door`` is the controller whose snapshots
    name each run (its sequence, its stand as zeroed now) and give its facts at the end; it
    makes this recorder at its construction (``Controller(..., run_recorder=...)``)."""

    def __init__(self, session: Recorder, runs_dir: str | Path, stand: StandConfig, stand_path: str | Path,
                 door: SnapshotSource) -> None:
        self.session = session
        self.runs_dir = Path(runs_dir)
        self.stand, self.stand_path = stand, Path(stand_path)
        self.door = door
        self.run: Recorder | None = None
        self.run_dirs: list[Path] = []  # every run of the session, oldest first
        self._ending = False
        self._first_cycle: int | None = None  # the open run's first cycle
        self._last_cycle: int | None = None  # and the last one recorded in it
        self._end_state = ""  # the state the open run ended in (SAFE or FAULT), once it has
        self._held = False  # the open record is a checkout's (open_record): closed by close_record only
        self._started = 0.0
        self._inputs: dict[str, dict[str, Any]] = {}
        self._events = RunEvents()  # the open run's own: its outcome comes from them alone
        self._closers: list[threading.Thread] = []

    @property
    def closed(self) -> bool:
        return self.session.closed

    @property
    def current(self) -> Path | None:
        """The open run's directory (None between runs)."""
        return self.run.dir if self.run is not None else None

    # ------------------------------------------------------------------ what the loop calls

    def event(self, t: float, kind: str, **fields: Any) -> None:
        if kind == "state" and fields.get("to") == "ARMED":
            if self.run is not None and self._ending:
                # armed again in the very cycle the last run ended (a client quick enough to arm
                # between the SAFE transition and the cycle's row): that run ends here, on the
                # rows it has, so the new one gets its own directory from its first event
                self._close(self._last_cycle)
            if self.run is None:
                self._open()
        self.session.event(t, kind, **fields)
        if self.run is not None:
            self.run.event(t, kind, **fields)
            self._events(t, kind, fields)
            if kind == "state" and fields.get("to") in RUN_ENDS and not self._held:
                self._ending = True  # closed after this cycle's row: the run ends on its SAFE row
                self._end_state = str(fields["to"])

    def append(self, t: float, cycle: int, lateness_ms: float, state: int, step: int, values: np.ndarray,
               commands: np.ndarray, extra: tuple[float, ...] = ()) -> None:
        self.session.append(t, cycle, lateness_ms, state, step, values, commands, extra)
        if self.run is not None:
            if self._first_cycle is None:
                self._first_cycle = cycle
            self._last_cycle = cycle
            self.run.append(t, cycle, lateness_ms, state, step, values, commands, extra)
            if self._ending:
                self._close(cycle)

    def copy_input(self, path: str | Path) -> dict[str, str]:
        return self.session.copy_input(path)

    def close(self, summary: dict[str, Any] | None = None) -> None:
        """End of the service: a run still open ends here (its summary says so)."""
        if self.run is not None:
            self._close(None, note="the service stopped during the run")
        for th in self._closers:
            th.join()
        self.session.close(summary)

    # ------------------------------------------------------------------ runs

    def open_record(self, stem: str) -> Path | None:
        """A directory of its own for work that is not a sequence run (a checkout), laid out
        like a run's; open until :meth:`close_record`. None while a run is open. A run that
        ended this cycle (its SAFE row not yet written) closes on the rows it has, as at ARM."""
        if self.run is not None and self._ending:
            self._close(self._last_cycle)
        if self.run is not None:
            return None
        self._open(stem)
        self._held = True  # its opener closes it, with its result (a FAULT meanwhile does not)
        return self.current

    def close_record(self, facts: dict[str, Any]) -> None:
        """Close what :meth:`open_record` opened; ``facts`` (the outcome) go in its summary."""
        if self.run is not None and self._held:
            self._close(self.door.snapshot(detail=False).cycle, facts=facts)

    def _open(self, stem: str | None = None) -> None:
        snap = self.door.snapshot(detail=False)
        seq = snap.sequence if stem is None else None
        stem = stem or (Path(seq.path).stem if seq is not None else "run")
        stand = snap.stand  # a checkout may have zeroed it since
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        path = self.runs_dir / f"{stamp}_{stem}"
        k = 2
        while path.exists():
            path = self.runs_dir / f"{stamp}_{stem}_{k}"
            k += 1
        self.run = new_recorder(path, self.stand)
        self.run_dirs.append(path)
        self._ending, self._first_cycle, self._last_cycle, self._events = False, None, None, RunEvents()
        self._held = False
        self._end_state = ""
        self._started = time.time()
        self._inputs = {"stand": stand_record(stand, self.run.copy_input(self.stand_path))}
        if stand.zero:
            self.run.copy_input(stand.zero["path"])
        if seq is not None:
            copy = self.run.copy_input(seq.path)
            self._inputs["sequence"] = {"name": seq.name, **copy, "sha256_loaded": seq.sha256}
            if copy["sha256"] != seq.sha256:
                self._inputs["sequence"]["changed_since_load"] = True  # the file on disk is not what ran
        self.session.event(snap.t, "run_dir", path=str(path))

    def _close(self, cycle: int | None, note: str = "", facts: dict[str, Any] | None = None) -> None:
        """Capture what the controller says about the run now, then finish on a helper thread."""
        run, self.run, self._ending = self.run, None, False
        assert run is not None
        given, facts = facts or {}, {"note": note} if note else {}
        n = cycle - self._first_cycle + 1 if cycle is not None and self._first_cycle is not None else None
        snap = self.door.snapshot(loop_summary=True, last_cycles=n)
        facts.update(controller_facts(snap, self._events.events))
        if self._end_state:
            facts["final_state"] = self._end_state  # as it ended, whatever a client did since
        if note:
            facts["outcome"] = "interrupted"
        summary = {**facts, **given, **self._inputs, **common_facts(self._started),
                   "recorded_by": "hil serve (one run of a session)"}
        th = threading.Thread(target=self._finish, args=(run, summary), name="run-close", daemon=True)
        th.start()
        self._closers = [c for c in self._closers if c.is_alive()] + [th]

    def _finish(self, run: Recorder, summary: dict[str, Any]) -> None:
        from hil.rt import background_thread

        background_thread()
        failed = write_summary(run, self.stand, summary)
        if failed is not None:  # on the closing thread too: the service's log shows it
            raise failed
