"""The frame layout: how one cycle becomes a row, written once for everything that carries rows.

Two shapes of the same cycle, both derived from the stand here and nowhere else:
- the **telemetry row** (float64): ``time, state, step, pc_setpoint, t_seq``, every channel,
  every command as ``cmd.<actuator>``. The loop fills it, the service ships batches of it, the client
  and the console decode it, and the replay rebuilds it from a recording, so a recorded run and
  a live one plot through the same code.
- the **recording's columns** (Arrow, ``data.arrow``): ``time, cycle, lateness_ms, state`` (name),
  ``step``, every channel, every ``cmd.<actuator>``, ``pc_setpoint, throttle_output, t_seq``.

``t_seq`` is the sequence clock (T-time, seconds; NaN when no sequence runs) of the same cycle:
it stands still through a hold or a prompt while ``time`` runs on, so a row places itself both
in the run and in the sequence file. Recordings made before it existed lack the column.

The wire format of a telemetry batch is ``[b"tlm", header-json, rows.tobytes()]`` with
``{"rows": n, "cols": m, ...}`` in the header; :func:`decode_batch` checks the payload's size.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from hil.errors import ProtocolError

HEAD = ("time", "state", "step", "pc_setpoint", "t_seq")
RECORD_HEAD = ("time", "cycle", "lateness_ms", "state", "step")
RECORD_TAIL = ("pc_setpoint", "throttle_output", "t_seq")


@dataclass(frozen=True)
class FrameLayout:
    """Column names for one stand's rows."""

    channels: tuple[str, ...]
    actuators: tuple[str, ...]

    @classmethod
    def of(cls, stand: Any) -> FrameLayout:
        """The layout of a :class:`~hil.stand.StandConfig`."""
        return cls(tuple(c.name for c in stand.channels), tuple(a.name for a in stand.actuators))

    @property
    def commands(self) -> tuple[str, ...]:
        """Command column names (``cmd.<actuator>``)."""
        return tuple(f"cmd.{a}" for a in self.actuators)

    @property
    def columns(self) -> tuple[str, ...]:
        """Telemetry row columns."""
        return (*HEAD, *self.channels, *self.commands)

    @property
    def width(self) -> int:
        return len(HEAD) + len(self.channels) + len(self.actuators)

    @property
    def channel_slice(self) -> slice:
        return slice(len(HEAD), len(HEAD) + len(self.channels))

    @property
    def command_slice(self) -> slice:
        return slice(len(HEAD) + len(self.channels), self.width)

    def fill(self, row: np.ndarray, t: float, state: int, step: int, pc_setpoint: float, t_seq: float,
             values: np.ndarray, commands: np.ndarray) -> None:
        """Write one cycle into a preallocated telemetry row."""
        row[0], row[1], row[2], row[3], row[4] = t, state, step, pc_setpoint, t_seq
        row[self.channel_slice] = values
        row[self.command_slice] = commands

    def record_columns(self) -> tuple[str, ...]:
        """The recording's column names, in order."""
        return (*RECORD_HEAD, *self.channels, *self.commands, *RECORD_TAIL)

    def rows_from_table(self, table: Any, states: tuple[str, ...]) -> np.ndarray:
        """Telemetry rows rebuilt from a recording (pyarrow Table): the replay's input."""
        n = table.num_rows
        rows = np.full((n, self.width), np.nan)
        rows[:, 0] = table.column("time").to_numpy()
        state = table.column("state").to_pylist()
        rows[:, 1] = [states.index(s) if s in states else np.nan for s in state]
        rows[:, 2] = table.column("step").to_numpy()
        for k, name in ((3, "pc_setpoint"), (4, "t_seq")):
            if name in table.column_names:
                rows[:, k] = table.column(name).to_numpy()
        for j, c in enumerate((*self.channels, *self.commands)):
            rows[:, len(HEAD) + j] = table.column(c).to_numpy()
        return rows


def encode_batch(rows: np.ndarray, **header: Any) -> list[bytes]:
    """A telemetry message: ``[b"tlm", header, payload]``."""
    head = {"rows": int(rows.shape[0]), "cols": int(rows.shape[1]), **header}
    return [b"tlm", json.dumps(head).encode(), np.ascontiguousarray(rows, dtype=np.float64).tobytes()]


def decode_batch(header: bytes, payload: bytes) -> tuple[dict[str, Any], np.ndarray]:
    """Header dict and rows of a telemetry message; a payload that does not match the header's
    shape is a :class:`ProtocolError`, not a reshape traceback."""
    try:
        head = json.loads(header)
        n, m = int(head["rows"]), int(head["cols"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ProtocolError(f"telemetry header is not valid: {exc}") from exc
    if n < 0 or m < 0 or len(payload) != n * m * 8:
        raise ProtocolError(f"telemetry payload of {len(payload)} bytes does not hold {n} × {m} float64")
    return head, np.frombuffer(payload, dtype=np.float64).reshape(n, m)
