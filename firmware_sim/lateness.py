"""The simulator in real time and its own lateness: the scan loop on absolute deadlines, how far
its scans fell behind their schedule and how late its server could answer (the event loop's
wake-up lag), so that a run that ends because the
*simulated* stand fell behind (starved of CPU on a busy machine) says so instead of blaming
the controller or the devices.

Measured as a maximum and counts above fixed thresholds (constant memory for an hours-long
``hil sim``). ``hil sim`` prints the figures as its last-but-one line on exit
(``hil sim: lateness {json}``), and the live status line carries them; the runner puts them in
the summary's ``simulator`` block and names them in the reason of a run that ended in FAULT
or abort while the simulator was behind.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

PREFIX = "hil sim: lateness "
THRESHOLDS_MS = (1.0, 5.0, 20.0)
PROBE_S = 0.005  # how often the server's event loop is asked to wake


@dataclass
class Lateness:
    """Lateness samples of one kind: the largest and how many passed each threshold."""

    max_ms: float = 0.0
    samples: int = 0
    over: dict[float, int] = field(default_factory=lambda: dict.fromkeys(THRESHOLDS_MS, 0))

    def add(self, late_s: float) -> None:
        ms = late_s * 1e3
        self.samples += 1
        if ms > self.max_ms:
            self.max_ms = ms
        if ms > THRESHOLDS_MS[0]:
            for th in THRESHOLDS_MS:
                if ms > th:
                    self.over[th] += 1

    def as_dict(self, prefix: str) -> dict[str, float | int]:
        out: dict[str, float | int] = {f"{prefix}_late_max_ms": round(self.max_ms, 3), f"{prefix}_samples": self.samples}
        for th, n in self.over.items():
            out[f"{prefix}_late_over_{th:g}ms"] = n
        return out


async def probe_loop(stop: asyncio.Event, answers: Lateness) -> None:
    """Wake every PROBE_S and record how late the wake-up came: a request arriving then would
    have waited as long before the server could even read it."""
    while not stop.is_set():
        due = time.monotonic() + PROBE_S
        await asyncio.sleep(PROBE_S)
        answers.add(max(0.0, time.monotonic() - due))


def report_line(stats: dict[str, float]) -> str:
    """The machine-readable line ``hil sim`` prints on exit."""
    keys = [k for k in stats if k.startswith(("scan_", "answer_")) or k in ("late_scans", "skipped_scans")]
    return PREFIX + json.dumps({k: stats[k] for k in keys}, sort_keys=True)


def parse_report(text: str) -> dict[str, float] | None:
    """The figures from a simulator's output (None: it printed none)."""
    for line in reversed(text.splitlines()):
        if line.startswith(PREFIX):
            try:
                data = json.loads(line[len(PREFIX):])
            except ValueError:
                return None
            return data if isinstance(data, dict) else None
    return None


def behind(report: dict[str, float], timeout_s: float) -> str:
    """Why the simulated stand fell behind enough to matter ('' if it did not): an answer could
    be held past the controller's timeout, or scans were skipped (the plant lost time)."""
    parts = []
    ans = float(report.get("answer_late_max_ms", 0.0))
    if ans >= timeout_s * 1e3:
        parts.append(f"its server woke up to {ans:.0f} ms late (the devices' timeout is {timeout_s * 1e3:.0f} ms)")
    scan = float(report.get("scan_late_max_ms", 0.0))
    if report.get("skipped_scans", 0) or scan >= timeout_s * 1e3:
        parts.append(f"its scans ran up to {scan:.0f} ms late ({int(report.get('skipped_scans', 0))} skipped)")
    if not parts:
        return ""
    return "the simulated stand fell behind (starved of CPU): " + "; ".join(parts)


def simulator_block(summary: dict[str, Any], sim_out: str, timeout_s: float) -> None:
    """The simulator's lateness as ``summary["simulator"]``; a run that did not complete while
    the simulated stand was behind says so in its reason (appended in brackets)."""
    report = parse_report(sim_out)
    if report is None:
        return
    note = behind(report, timeout_s)
    summary["simulator"] = {**report, "fell_behind": bool(note), **({"note": note} if note else {})}
    if note and summary.get("outcome") != "completed":
        for key in ("abort_reason", "fault_reason"):
            if summary.get(key):
                summary[key] = f"{summary[key]} [{note}]"


class Scanned(Protocol):
    """A firmware scanned in real time (firmware_sim/firmware.py), as far as the scan loop goes."""

    @property
    def dt(self) -> float: ...

    scan_lateness: Lateness
    double_buffer: bool

    def scan(self) -> None: ...


def run_realtime(fw: Scanned, stop: threading.Event) -> dict[str, float]:
    """Scan ``fw`` at its ``scan_hz`` on absolute deadlines until ``stop`` is set, measuring how
    late each scan starts; inputs are served from the per-scan image meanwhile
    (``Firmware.double_buffer``).

    A late scan is caught up (the plant must not fall behind wall time); a stall longer than
    0.1 s is skipped rather than replayed in a burst, and counted.
    """
    period = fw.dt
    next_t = time.monotonic()
    late_scans = skipped = 0
    lateness = fw.scan_lateness = Lateness()  # how far each scan started after its due time
    fw.double_buffer = True
    while not stop.is_set():
        next_t += period
        fw.scan()
        now = time.monotonic()
        if now - next_t > 0.1:
            lateness.add(now - next_t)  # the stall, before the schedule is moved past it
            skipped += int((now - next_t) / period)
            next_t = now
        delay = next_t - now
        if delay > 0:
            time.sleep(delay)
            lateness.add(time.monotonic() - next_t)  # measured on waking: a stall is counted even if it is the last
        else:
            late_scans += 1
            lateness.add(-delay)
    return {"late_scans": late_scans, "skipped_scans": skipped, **lateness.as_dict("scan")}
