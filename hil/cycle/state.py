"""What one control cycle knows, and the order in which the stages of a cycle produce it.

A cycle is a pipeline. Each stage reads what earlier stages produced this cycle and writes only
its own fields of :class:`CycleState` — one producer per field, listed in :data:`PRODUCERS` and
checked by a test that watches a whole run. The state object lives across cycles, so a field
read before its producer has run this cycle holds last cycle's value; the only such read is a
sequence condition naming ``pc_setpoint`` or ``throttle_output`` (the sequence commands the
throttle, so the throttle runs after it).

The stage order, written once (:data:`STAGE_ORDER`):

1. ``read``       the loop reads every register block and decodes it (``values``, ``valid``,
                  ``comm_ok``, ``system``)
2. ``supervisor`` link and firmware state into the state machine; safing steps that are due
3. ``abort_switch`` the stand's hardware ABORT input, when it has one (aborts on the press)
4. ``sensors``    sensor qualification: out of range or frozen → disqualified; trusted Pc
5. ``ignition``   ignition confirmed from the stand's channel, flame-out, shutdown, relight
                  interlocks (``burning``)
6. ``sequence``   the sequence interpreter (``step_index``, ``seq_t``; commands)
7. ``throttle``   closed-loop Pc control (``pc_setpoint``, ``throttle_output``; commands)
8. ``start``      the staged start: an opening of a chamber propellant valve that breaks it is
                  taken back and the run aborted, whoever commanded it (hil/safety/start.py)
9. ``redlines``   redlines, always-on and phase-gated (aborts)
10. ``valves``    valve position against command (aborts, faults)
11. ``clients``   lost-client watch (aborts)
12. ``safing``    the safing routine has the last word on the outputs
13. ``write``     changed commands and the heartbeat go out
14. ``publish``   client requests served, the row recorded and published

The command image (``Commands``) is the one shared output: the sequence writes it, the throttle
overrides its throttle valves, and safing overrides everything — arbitration by stage order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

STAGE_ORDER = ("read", "supervisor", "abort_switch", "sensors", "ignition", "sequence", "throttle", "start",
               "redlines", "valves", "clients", "safing", "write", "publish")

# The stages a controller plugs into the loop, between the loop's own ``supervisor`` and
# ``safing`` stages.
CONTROL_STAGES = STAGE_ORDER[STAGE_ORDER.index("supervisor") + 1: STAGE_ORDER.index("safing")]

PRODUCERS: dict[str, str] = {
    "t": "loop", "cycle": "loop", "lateness": "loop",
    "values": "read", "valid": "read", "fresh": "read", "stale": "read", "unread": "read", "lost": "read", "age": "read", "comm_ok": "read", "system": "read",
    "disqualified": "sensors", "pc": "sensors",
    "burning": "ignition",
    "step_index": "sequence", "seq_t": "sequence",
    "pc_setpoint": "throttle", "pc_setpoint_moved_at": "throttle", "throttle_output": "throttle",
}


@dataclass
class CycleState:
    """The cycle's blackboard with a rule: each field has exactly one producer (PRODUCERS)."""

    n_channels: int
    t: float = 0.0
    cycle: int = 0
    lateness: float = 0.0
    values: np.ndarray = field(init=False)
    valid: np.ndarray = field(init=False)
    fresh: np.ndarray = field(init=False)  # sampled this cycle (a slow device's values are held between reads)
    stale: np.ndarray = field(init=False)  # held longer than its device's stale time (or never read)
    unread: np.ndarray = field(init=False)  # its every-cycle device did not answer this cycle (NaN)
    lost: np.ndarray = field(init=False)  # its device is declared lost (disqualified)
    age: np.ndarray = field(init=False)  # seconds since its device's last complete read (inf: never)
    comm_ok: bool = True
    system: np.ndarray | None = None  # the firmware protocol's system block, when read this cycle
    disqualified: np.ndarray = field(init=False)
    pc: float = float("nan")  # median of the trusted Pc transducers
    burning: bool = False  # ignition confirmed and propellants still commanded open
    step_index: int = -1
    seq_t: float | None = None  # sequence time while a sequence runs
    pc_setpoint: float = float("nan")
    pc_setpoint_moved_at: float = 0.0
    throttle_output: float = float("nan")

    def __post_init__(self) -> None:
        self.values = np.full(self.n_channels, np.nan)
        self.valid = np.zeros(self.n_channels, dtype=bool)
        self.fresh = np.zeros(self.n_channels, dtype=bool)
        self.stale = np.zeros(self.n_channels, dtype=bool)
        self.unread = np.zeros(self.n_channels, dtype=bool)
        self.lost = np.zeros(self.n_channels, dtype=bool)
        self.age = np.full(self.n_channels, np.inf)
        self.disqualified = np.zeros(self.n_channels, dtype=bool)


class Stage(Protocol):
    """One stage of the cycle. ``name`` is its place in :data:`STAGE_ORDER`."""

    name: str

    def on_cycle(self, cs: CycleState) -> None:
        """Read earlier stages' fields of ``cs``; write only this stage's own."""
        ...


def check_order(stages: list[Stage]) -> None:
    """Refuse a stage list that is not in :data:`CONTROL_STAGES` order (a redline checked before
    the sensors are qualified would trust a disqualified transducer)."""
    names = [s.name for s in stages]
    unknown = [n for n in names if n not in CONTROL_STAGES]
    if unknown:
        raise ValueError(f"unknown cycle stage(s) {unknown}; the stages are {CONTROL_STAGES}")
    if names != sorted(names, key=CONTROL_STAGES.index) or len(set(names)) != len(names):
        raise ValueError(f"cycle stages out of order: {names}; the order is {CONTROL_STAGES}")
