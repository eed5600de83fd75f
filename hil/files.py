"""Files other processes read while we may be writing them.

A run's summary.json is polled by the console and by scripts that wait for a run to end; the zero
file is read by every stand load; a plot layout by the next console. Written in place, a reader
that looks at the wrong moment sees an empty or half-written file (CI caught a test reading an
empty summary.json between the writer's open and its write). Writing a temporary file beside the
target and renaming it over the target makes each reader see the old file or the whole new one:
rename is atomic within one file system on POSIX and Windows.

No fsync: some of these files are written on the control loop's thread (a checkout's record and
zero file, in SAFE), where a flush to disk that stalls for tens of milliseconds would cost
cycles and could let the firmware's heartbeat watchdog trip. What is asked of them is that no
reader ever sees a part; the recording's durability is the recorder's business.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_text_atomic(path: str | Path, text: str, encoding: str = "utf-8") -> None:
    """Replace ``path`` with ``text`` in one step; a failure leaves the old file untouched."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding=encoding) as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: str | Path, obj: Any) -> None:
    """``obj`` as indented JSON (anything JSON cannot hold as its ``str``), replaced in one step."""
    write_text_atomic(path, json.dumps(obj, indent=2, default=str))
