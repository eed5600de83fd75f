"""Nothing pymodbus logs reaches the operator's terminal (issue 23: 89 lines of "request ask for
id=3 but got id=4, Skipping." in one console session): the transport package captures the
"pymodbus" logger, counts each kind of line, and the loop turns them into rate-limited
``modbus_log`` events."""

from __future__ import annotations

import logging
import subprocess
import sys
import time

from conftest import TQ12
from pymodbus.framer import FramerRTU
from pymodbus.pdu import DecodePDU
from rs485 import frame

from hil.controller import Controller
from hil.links import open_link
from hil.stand import load_stand
from hil.transport.modbus_log import CAPTURE, EVENT_INTERVAL_S


def provoke_skipping(times: int) -> None:
    """pymodbus's framer, handed unit 4's answer while waiting for unit 3: its old "Skipping" line."""
    framer = FramerRTU(DecodePDU(False))
    for i in range(times):  # another unit each time: pymodbus itself swallows a repeated line
        framer.handleFrame(frame(4 + i % 200, bytes([4, 2, 0, 7])), 3, 0)


def test_the_skipping_line_is_counted_and_not_printed(capfd) -> None:
    import hil.transport  # noqa: F401 - installs the capture

    assert not logging.getLogger("pymodbus").propagate  # the root logger (and the terminal) never sees it
    before = sum(n for k, n in CAPTURE.totals().items() if "Skipping" in k)
    provoke_skipping(3)
    out, err = capfd.readouterr()
    assert "Skipping" not in err and "Skipping" not in out
    assert sum(n for k, n in CAPTURE.totals().items() if "Skipping" in k) == before + 3


PROVOKE = ("from pymodbus.framer import FramerRTU\nfrom pymodbus.pdu import DecodePDU\n"
           "body = bytes.fromhex('0404020007')\n"
           "FramerRTU(DecodePDU(False)).handleFrame(body + FramerRTU.compute_CRC(body).to_bytes(2, 'big'), 3, 0)\n")


def test_a_fresh_process_prints_nothing_either() -> None:
    """The same in a process of its own, with Python's last-resort handler (what a terminal sees
    without pytest's capture in the way); without the transport package pymodbus does print."""
    bare = subprocess.run([sys.executable, "-c", PROVOKE], capture_output=True, text=True, timeout=60)
    assert "Skipping" in bare.stderr
    ours = subprocess.run([sys.executable, "-c", "import hil.transport\n" + PROVOKE
                           + "from hil.transport.modbus_log import CAPTURE\nprint(sum(CAPTURE.totals().values()))"],
                          capture_output=True, text=True, timeout=60)
    assert ours.returncode == 0, ours.stderr
    assert ours.stderr == "" and ours.stdout.strip() == "1"


def test_captured_lines_become_one_rate_limited_event_per_kind() -> None:
    stand = load_stand(TQ12)
    link = open_link(stand, str(TQ12), "lockstep")
    ctl = Controller(stand, link.transports, link.clock)
    events: list[tuple[str, dict]] = []
    ctl.events.add_listener(lambda t, kind, fields: events.append((kind, fields)))
    loop = ctl.loop
    loop.start()
    try:
        CAPTURE.drain(now=float("inf"))  # what earlier tests left: already reported
        for k in CAPTURE.kinds.values():
            k.last_event = -1e18
        provoke_skipping(5)
        loop.step()
        logged = [f for kind, f in events if kind == "modbus_log"]
        assert len(logged) == 1 and logged[0]["count"] == 5 and "Skipping" in str(logged[0]["line"])
        provoke_skipping(4)
        for _ in range(10):
            loop.step()  # within the interval: counted, not yet reported
        assert len([1 for kind, _ in events if kind == "modbus_log"]) == 1
        (due,) = CAPTURE.drain(now=time.monotonic() + EVENT_INTERVAL_S)
        assert due["count"] == 4 and due["total"] >= 9
    finally:
        loop.shutdown("test over")
