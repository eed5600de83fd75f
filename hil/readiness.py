"""The readiness line a child process (``hil sim``, ``hil serve``, the pty bridge) prints once
everything is bound, and the parent's side of waiting for it: one machine-readable line,
``hil-ready {json}``, nobody parses the human-readable sentences around it. Children die with
their parent (Linux PR_SET_PDEATHSIG). Starting children is hil/children.py's; this module sits
below it and below the pty pair (hil/ptypair.py), which both use it.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import time
from typing import Any

from hil.errors import ChildStartError, ProtocolError

READY = "hil-ready "


def announce(**where: Any) -> None:
    """Print the readiness line (the child's side)."""
    print(READY + json.dumps(where), flush=True)


def parse_ready(text: str) -> dict[str, Any]:
    """The fields of the readiness line in ``text``."""
    for line in text.splitlines():
        if line.startswith(READY):
            try:
                fields = json.loads(line[len(READY):])
            except json.JSONDecodeError as exc:
                raise ProtocolError(f"malformed readiness line {line!r}: {exc}") from exc
            if not isinstance(fields, dict):
                raise ProtocolError(f"readiness line is not a JSON object: {line!r}")
            return fields
    raise ProtocolError(f"no readiness line in {text!r}")


def read_until(fd: int, needle: str, timeout: float = 30.0) -> str:
    """Read a pipe until ``needle`` has appeared; raises ChildStartError on timeout or EOF."""
    sel = selectors.DefaultSelector()
    sel.register(fd, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    text = ""
    try:
        while needle not in text:
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(timeout=left):
                raise ChildStartError(f"no {needle!r} within {timeout:g} s; got {text!r}")
            chunk = os.read(fd, 65536)
            if not chunk:
                raise ChildStartError(f"child exited before {needle!r}; got {text!r}")
            text += chunk.decode(errors="replace")
    finally:
        sel.close()
    return text


def die_with_parent() -> None:
    """``preexec_fn`` for children: SIGTERM when the parent dies, even by SIGKILL."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
