"""The operator of a headless run (`hil run`), on a terminal: the sequence's prompts are asked
and answered there, and the count can be held, resumed or aborted from it."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TextIO

from hil.errors import Refused

if TYPE_CHECKING:
    from hil.controller import Controller


class OperatorDesk:
    """The operator of a headless run, on a terminal: prompts are printed and answered there
    (``proceed``/``p``, ``abort``/``a``), and ``hold``, ``resume`` and ``abort`` are taken at
    any time. Lines are read by a thread; the loop only looks at what has arrived, so a silent
    operator never delays a cycle. With ``auto`` every prompt is answered PROCEED, and the run's
    events say so."""

    AUTO = "auto-proceed (hil run --auto-proceed)"

    def __init__(self, answers: TextIO | None, out: TextIO, auto: bool) -> None:
        import getpass
        import queue
        import threading

        self.out, self.auto = out, auto
        self.asked = -1
        self.lines: queue.Queue[str] = queue.Queue()
        self.who = f"{getpass.getuser()} at the terminal"
        self._stop = threading.Event()
        if answers is not None and not auto:
            threading.Thread(target=self._read, args=(answers,), name="operator-input", daemon=True).start()

    def _read(self, answers: TextIO) -> None:
        from hil.rt import background_thread

        background_thread()
        for line in answers:
            if self._stop.is_set():
                return
            self.lines.put(line.strip().lower())

    def serve(self, ctl: Controller) -> None:
        """Once per cycle: ask a new prompt, act on what the operator typed."""
        snap = ctl.snapshot(detail=False)
        p = snap.prompt
        if p is not None and p["index"] != self.asked:
            self.asked = p["index"]
            if self.auto:
                ctl.answer(p["index"], "proceed", self.AUTO)
                print(f"hil run: prompt (line {p['line']}): {p['text']} → PROCEED (--auto-proceed)", file=self.out,
                      flush=True)
                return
            print(f"\nhil run: PROMPT (line {p['line']}): {p['text']}\n         type proceed or abort "
                  f"(no answer in {p['timeout_s']:g} s → {p['on_timeout']}): ", file=self.out, flush=True)
        while not self.lines.empty():
            self._act(ctl, self.lines.get_nowait(), p)
        if p is not None and not self.auto and not snap.loop.realtime:
            time.sleep(1.0 / snap.loop.rate_hz)  # lockstep: a person's time to answer passes in real time

    def _act(self, ctl: Controller, line: str, p: Mapping[str, Any] | None) -> None:
        try:
            if line in ("abort", "a") and p is None:
                ctl.abort(f"operator abort ({self.who})", source="operator")
            elif line in ("proceed", "p", "abort", "a"):
                if p is None:
                    raise Refused("no prompt is pending")
                ctl.answer(p["index"], "proceed" if line.startswith("p") else "abort", self.who)
            elif line == "hold":
                ctl.hold(self.who)
                print("hil run: count held (type resume)", file=self.out, flush=True)
            elif line == "resume":
                ctl.resume(self.who)
                print("hil run: count resumed", file=self.out, flush=True)
            elif line:
                print(f"hil run: {line!r}? type proceed, abort, hold or resume", file=self.out, flush=True)
        except Refused as exc:
            print(f"hil run: refused: {exc}", file=self.out, flush=True)

    def close(self) -> None:
        self._stop.set()
