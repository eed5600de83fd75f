"""pymodbus's own log lines, kept off the operator's terminal and handed to the event log.

pymodbus logs through the "pymodbus" logger tree (``pymodbus.logging``); with no handler of the
application's, Python's last-resort handler prints WARNING and above to stderr — 89 lines of
"request ask for id=3 but got id=4, Skipping." in one console session (issue 23). Importing the
transport package installs :data:`CAPTURE` on that logger with propagation off: each line is
counted under its kind (the message with its numbers blanked) and the loop drains the counts
once per cycle into at most one ``modbus_log`` event per kind per :data:`EVENT_INTERVAL_S`.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass

EVENT_INTERVAL_S = 1.0
_NUMBER = re.compile(r"\d+|0x[0-9a-fA-F]+")


@dataclass
class _Kind:
    total: int = 0
    pending: int = 0  # lines since the last event
    sample: str = ""
    last_event: float = -1e18


class ModbusLogCapture(logging.Handler):
    """Counts pymodbus's lines per kind (thread-safe: line threads and the loop both log)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.kinds: dict[str, _Kind] = {}
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a malformed record must not reach the terminal either
            text = str(record.msg)
        kind = f"{record.levelname}: {_NUMBER.sub('N', text)[:120]}"
        with self._guard:
            k = self.kinds.setdefault(kind, _Kind())
            k.total += 1
            k.pending += 1
            k.sample = text[:300]

    def drain(self, now: float | None = None) -> list[dict[str, object]]:
        """Events due now: per kind with lines pending whose last event is at least
        :data:`EVENT_INTERVAL_S` old, ``{"line" (the kind: the message with numbers blanked), "count"
        (since the last event), "total", "sample" (the last such line)}``."""
        now = time.monotonic() if now is None else now
        out: list[dict[str, object]] = []
        with self._guard:
            for kind, k in self.kinds.items():
                if k.pending and now - k.last_event >= EVENT_INTERVAL_S:
                    out.append({"line": kind, "count": k.pending, "total": k.total, "sample": k.sample})
                    k.pending, k.last_event = 0, now
        return out

    def totals(self) -> dict[str, int]:
        """Lines captured per kind since the process started."""
        with self._guard:
            return {kind: k.total for kind, k in self.kinds.items()}


CAPTURE = ModbusLogCapture()


def install() -> ModbusLogCapture:
    """Put :data:`CAPTURE` on the "pymodbus" logger, stop propagation to the root logger (and the
    terminal); idempotent."""
    logger = logging.getLogger("pymodbus")
    if CAPTURE not in logger.handlers:
        logger.addHandler(CAPTURE)
    logger.propagate = False
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.WARNING)  # debug lines are not even formatted
    return CAPTURE
