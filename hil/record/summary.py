"""A run's summary.json, built in one place for every writer: `hil run` (hil/runner.py) and the
per-run directories of `hil serve` (hil/record/runs.py), which the console and `hil report`
read.

Each run's outcome and reasons come from that run's own events (:func:`run_outcome`, a pure
function of the event list), never from what the supervisor remembers from an earlier run: a
completed run after an acknowledged abort says "completed", and a later abort records its own
reason. The summary is written once, whole, after the data is closed and the burns measured
(:func:`write_summary`); what failed on the way is said in it (``recording_error``,
``burns_error``, docs/report.md) and the summary is written all the same.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from hil import __version__
from hil.files import write_json_atomic
from hil.record.metrics import burn_metrics
from hil.record.recorder import EVENTS, SUMMARY, Recorder, read_events, read_run, sha256_file

if TYPE_CHECKING:
    from hil.controller.snapshot import Snapshot
    from hil.stand import StandConfig

# the event kinds a run's outcome is computed from (a writer may keep only these)
OUTCOME_KINDS = frozenset({"abort", "fault", "redline", "state"})
RUN_STATES = ("ARMED", "RUNNING")  # an abort in these ends a run as aborted; in SAFE it only re-asserts safing


def run_outcome(events: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """``outcome`` (completed | aborted | fault), ``abort_reason``, ``fault_reason`` and
    ``redlines_tripped`` of one run, from its events in order.

    The first abort of the run while ARMED or RUNNING gives its reason (a second ABORT press
    while safing does not replace it; an ABORT in SAFE re-asserts safing and ends no run); the
    first fault makes it a fault, whose reason stands as the abort reason when nothing aborted
    first. A transition to ARMED begins a new run: what came before it is another run's."""
    abort = fault = ""
    redlines: list[str] = []
    for e in events:
        kind = e.get("kind")
        if kind == "state" and e.get("to") == "ARMED":
            abort, fault, redlines = "", "", []
        elif kind == "abort" and e.get("state") in RUN_STATES and not abort:
            abort = str(e.get("reason") or "abort")
        elif kind == "fault" and not fault:
            fault = str(e.get("reason") or "fault")
        elif kind == "redline":
            redlines.append(str(e.get("redline")))
    return {"outcome": "fault" if fault else "aborted" if abort else "completed",
            "abort_reason": abort or fault or None, "fault_reason": fault or None, "redlines_tripped": redlines}


class RunEvents:
    """The events a run's outcome is computed from, collected as they happen (an event bus
    listener: ``(t, kind, fields)``)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __call__(self, t: float, kind: str, fields: Mapping[str, Any]) -> None:
        if kind in OUTCOME_KINDS:
            self.events.append({"t": t, "kind": kind, **fields})

    def outcome(self) -> dict[str, Any]:
        """:func:`run_outcome` of what was collected."""
        return run_outcome(self.events)


def controller_facts(snap: Snapshot, events: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """What the run's events and the controller's snapshot (taken with its loop summary, over
    the run's cycles) say about a run now it has ended: the outcome and reasons (from the
    events), the final state, the redline margins, the sensors disqualified, and the loop's figures."""
    return {**run_outcome(events), "final_state": snap.state.name, "redline_margins": dict(snap.redline_margins),
            "disqualified_sensors": list(snap.disqualified),
            "unknown_sensors": dict(snap.unknown),  # without a value at the end, and why
            "loop": dict(snap.loop.summary or {})}


def stand_record(stand: StandConfig, copy: dict[str, str]) -> dict[str, Any]:
    """summary.json's ``stand``: its name, the copy and hash of its file, and the zero applied."""
    zero = {"zero": {k: v for k, v in stand.zero.items() if k != "offsets"}} if stand.zero else {}
    return {"name": stand.name, **copy, **zero}


def common_facts(started_wall: float) -> dict[str, Any]:
    """What every summary says of where and when it was made."""
    return {"software": {"hil-stand": __version__},
            "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started_wall)),
            "wall_s": round(time.time() - started_wall, 3)}


def write_summary(run: Recorder, stand: StandConfig, summary: dict[str, Any]) -> RuntimeError | None:
    """Close the run's data, add what it holds (``samples``, ``recording_truncated``, ``burns``,
    ``data_sha256``) and write summary.json once, whole, renamed into place: a reader waiting
    for it never sees a summary without its burns. A recording that failed to close is said in
    ``recording_error`` (the rows written so far stay readable and are measured), burns that
    could not be measured in ``burns_error``; either way the summary is written, and the
    recording error is returned for the caller to raise or report."""
    failed: RuntimeError | None = None
    try:
        run.close()
    except RuntimeError as exc:
        failed, summary["recording_error"] = exc, str(exc)
    try:
        data = read_run(run.dir)
        summary["samples"] = data.table.num_rows
        summary["recording_truncated"] = data.truncated
        events = read_events(run.dir) if (run.dir / EVENTS).is_file() else []
        summary["burns"] = burn_metrics(data.table, stand, events)
        summary["data_sha256"] = sha256_file(run.dir / "data.arrow")
    except Exception as exc:
        summary["burns_error"] = f"{type(exc).__name__}: {exc}"
    write_json_atomic(run.dir / SUMMARY, summary)
    return failed
