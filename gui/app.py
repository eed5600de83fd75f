"""``hil gui``: the console. With no arguments it starts the embedded simulated TQ-12-like
stand and its controller (``hil serve --sim tcp``, child processes it stops on exit) and
connects to them; ``--connect`` talks to a controller someone else runs; ``--replay`` opens a
recorded run. Without a display it falls back to a headless run of the three-burn sequence.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

from hil.catalog import config_root, find_sequence

DEFAULT_STAND = "sim_tq12_devices"
DEFAULT_SEQUENCE = "tq12_three_burn"


class EmbeddedController:
    """``hil serve --sim tcp`` as a child: its own process, ephemeral loopback ports. Records
    under the working directory's ``runs/``."""

    def __init__(self, stand: str | Path, out: Path | None = None, rt_priority: int | None = None,
                 faults: tuple[str, ...] = ()) -> None:
        from hil.children import spawn

        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        self.out = out or Path.cwd() / "runs" / f"{stamp}_console"
        self.out.mkdir(parents=True, exist_ok=True)
        self.log = open(self.out.parent / f"{self.out.name}.serve.log", "w")
        try:
            self.child = spawn(["serve", "--stand", str(stand), "--sim", "tcp", "--rep", "tcp://127.0.0.1:0",
                                "--pub", "tcp://127.0.0.1:0", "--out", str(self.out),
                                *(["--rt-priority", str(rt_priority)] if rt_priority else []),
                                *(a for f in faults for a in ("--fault", f))],
                               timeout=60, stderr=self.log)
        except BaseException:
            self.log.close()
            raise
        self.proc = self.child.proc
        self.rep = str(self.child.ready["rep"])
        self.pub = str(self.child.ready["pub"])

    def stop(self) -> None:
        """SIGTERM: the controller aborts if needed, runs the safing sequence, stops the sim."""
        self.child.stop(signal.SIGTERM)
        self.log.close()


def has_display() -> bool:
    """A window can be shown (X, Wayland, or an explicit Qt platform such as offscreen)."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.environ.get("QT_QPA_PLATFORM"))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hil gui", description=__doc__.split("\n\n")[0])
    p.add_argument("--stand", default=str(DEFAULT_STAND), help="stand for the embedded controller")
    p.add_argument("--connect", nargs=2, metavar=("REP", "PUB"), help="a running controller's endpoints")
    p.add_argument("--keys", metavar="DIR", help="CURVE keys for --connect to a controller that requires them (hil keys)")
    p.add_argument("--key-name", default="console", help="this client's key name in --keys DIR (default console)")
    p.add_argument("--station", metavar="NAME",
                   help="this console's station name, in every event its commands cause "
                        "(default user@host#pid: differs per console)")
    p.add_argument("--replay", metavar="RUN_DIR", help="open a recorded run instead of a live controller")
    p.add_argument("--sequence", help="load this sequence at start-up")
    p.add_argument("--autopilot", action="store_true", help="arm (no dialog) and start once the sequence is loaded")
    p.add_argument("--screenshot", help="save a screenshot here ...")
    p.add_argument("--screenshot-at", type=float, default=8.0, help="... when sequence time reaches this (s)")
    p.add_argument("--quit-after-screenshot", action="store_true")
    p.add_argument("--abort-through-plots-at", type=float, metavar="T",
                   help="(a drill, and the end-to-end test) at sequence time T open Plots… and, with it open, "
                        "press F12 in it; quit once the stand is SAFE again")
    p.add_argument("--rt-priority", type=int, metavar="1-99",
                   help="run the embedded controller's loop under SCHED_FIFO (needs root or CAP_SYS_NICE)")
    p.add_argument("--report-frames", type=float, metavar="S", default=0.0,
                   help="print every S seconds the frames drawn and the console's CPU share (benchmarks, logs)")
    p.add_argument("--fault", action="append", default=[], metavar="SPEC",
                   help="inject a simulator fault into the embedded stand, as hil run --fault (training, demos)")
    p.add_argument("--close-policy", choices=("abort", "keep"), default="abort",
                   help="closing the console during a run: abort it (default) or leave it running")
    return p


CONSOLE_NICE = 5


def yield_cpu() -> int:
    """Run the console below the controller's scheduling priority: on a shared two-core machine
    the loop (its own process, started before this call lowers ours) must win the CPU when both
    want it. Returns the console's niceness."""
    return os.nice(CONSOLE_NICE)  # relative: whatever priority we were started with, 5 below it


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    keys = None
    if args.keys:
        from hil.errors import HilError
        from hil.service.auth import load_client_keys

        try:
            keys = load_client_keys(args.keys, args.key_name)
        except HilError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    if not has_display():
        from hil.runner import RunOptions, run

        print("hil gui: no display (DISPLAY/WAYLAND_DISPLAY unset): running the three-burn sequence headless instead",
              flush=True)
        res = run(RunOptions(sequence=str(args.sequence or DEFAULT_SEQUENCE), stand=args.stand, sim="tcp"))
        return res.exit_code
    import pyqtgraph as pg
    from PySide6.QtWidgets import QApplication

    from hil.gui.main_window import MainWindow

    pg.setConfigOptions(antialias=False, background="w", foreground="k")
    app = QApplication.instance() or QApplication(sys.argv[:1])
    win = MainWindow(close_policy=args.close_policy, station=args.station)
    embedded = None
    if args.replay:
        win.open_replay(args.replay)
    elif args.connect:
        rep, pub = args.connect
        win.connect_controller(rep, pub, keys=keys)
    else:
        print("hil gui: starting the embedded simulated stand and controller …", flush=True)
        embedded = EmbeddedController(args.stand, rt_priority=args.rt_priority, faults=tuple(args.fault))
        win.on_quit.append(embedded.stop)
        win.connect_controller(embedded.rep, embedded.pub)
        print(f"hil gui: controller {embedded.rep}, recording to {embedded.out}", flush=True)
    nice = yield_cpu()
    ctl_nice = os.getpriority(os.PRIO_PROCESS, embedded.proc.pid) if embedded is not None else None
    print(f"hil gui: console at niceness {nice}" + (f", its controller at {ctl_nice}" if ctl_nice is not None else ""),
          flush=True)
    win.sequence.start_dir = str(config_root() / "sequences")
    win.show()
    if args.autopilot:
        win.confirm_fn = lambda text: True
    if args.sequence and not args.replay:
        seq_path = str(find_sequence(args.sequence).resolve())
        _after_connect(win, lambda: win.sequence.load(seq_path))
    if args.autopilot:
        _when(win, lambda: bool(win.sequence.steps) and win.model.status.get("state") == "SAFE", win.arm)
        _when(win, lambda: win.model.status.get("state") == "ARMED", win.start)
        _autopilot_answers(win)
    if args.screenshot:
        def shoot() -> None:
            path = Path(args.screenshot)
            path.parent.mkdir(parents=True, exist_ok=True)
            screen = win.screen()
            shot = screen.grabWindow(0) if os.environ.get("DISPLAY") else win.grab()
            shot.save(str(path))
            st = win.model.status
            print(f"hil gui: screenshot {path} at T{st.get('t_seq')}", flush=True)
            print(f"hil gui: controller loop so far: {100 * st.get('deadlines_met_share', 0.0):.2f} % of "
                  f"{st.get('deadlines_due', 0)} deadlines met, {st.get('overruns', 0)} skipped, "
                  f"{st.get('failed_cycles', 0)} failed cycles", flush=True)
            if args.quit_after_screenshot:
                win.close()

        _when(win, lambda: (win.model.status.get("t_seq") or -1e9) >= args.screenshot_at, shoot)
    if args.abort_through_plots_at is not None:
        _abort_through_plots(win, args.abort_through_plots_at)
    if args.report_frames > 0:
        _report_frames(win, args.report_frames)
    rc = app.exec()
    if embedded is not None and embedded.proc.poll() is None:
        embedded.stop()
    return rc


def _autopilot_answers(win) -> None:  # noqa: ANN001
    """--autopilot answers GO to every prompt, through the prompt bar's own button (so the
    controller records this console as the one that answered), and says so."""
    from PySide6.QtCore import QTimer

    def check() -> None:
        bar = win.prompt_bar
        if bar.isVisible() and bar.proceed_btn.isEnabled():
            print(f"hil gui: autopilot: PROCEED to prompt {bar.index}: {bar.text.text()}", flush=True)
            bar.proceed_btn.click()

    timer = QTimer(win)
    timer.timeout.connect(check)
    timer.start(200)


def _abort_through_plots(win, at: float) -> None:  # noqa: ANN001
    """Open Plots… at T ``at``; 1.5 s later press F12 where the keyboard is (inside the dialog),
    as an operator would; report the abort the controller took and quit once SAFE."""
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    def press() -> None:
        dialog = win.plots.dialog
        target = QApplication.focusWidget() or dialog
        print(f"hil gui: Plots… open ({dialog is not None and dialog.isVisible()}), pressing F12 in "
              f"{type(target).__name__} at T{win.model.status.get('t_seq')}", flush=True)
        QTest.keyClick(target, Qt.Key.Key_F12)
        _when(win, lambda: win.model.status.get("state") == "SAFE", done)

    def done() -> None:
        print(f"hil gui: aborted: {win.alarm_bar.text.text()} (Plots… still open: {win.plots.dialog.isVisible()})",
              flush=True)
        win.close()

    def open_plots() -> None:
        win.plots.layout_btn.click()
        print(f"hil gui: Plots… opened at T{win.model.status.get('t_seq')}", flush=True)
        QTimer.singleShot(1500, press)

    _when(win, lambda: (win.model.status.get("t_seq") or -1e9) >= at, open_plots)


def _report_frames(win, every_s: float) -> None:  # noqa: ANN001
    """What the console costs, from inside: frames drawn, the frame interval it chose and its
    process's CPU time (every thread: drawing, painting, receiving telemetry) per period."""
    import resource

    from PySide6.QtCore import QTimer

    def cpu() -> float:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    last = [time.monotonic(), cpu(), win.plots.frames]

    def report() -> None:
        now, c, f = time.monotonic(), cpu(), win.plots.frames
        dt = now - last[0]
        print(f"hil gui: frames {f - last[2]} in {dt:.2f} s ({(f - last[2]) / dt:.1f} fps), interval "
              f"{win.timer.interval()} ms, cpu {100 * (c - last[1]) / dt:.1f} % of a core, state "
              f"{win.model.status.get('state', '-')}", flush=True)
        last[:] = [now, c, f]

    timer = QTimer(win)
    timer.timeout.connect(report)
    timer.start(int(every_s * 1000))


def _after_connect(win, fn) -> None:  # noqa: ANN001
    _when(win, lambda: win.model.connected, fn)


def _when(win, cond, fn) -> None:  # noqa: ANN001
    """Run ``fn`` once ``cond()`` holds, checked on the GUI's own timer (never blocks)."""
    from PySide6.QtCore import QTimer

    timer = QTimer(win)

    def check() -> None:
        if cond():
            timer.stop()
            fn()

    timer.timeout.connect(check)
    timer.start(50)


if __name__ == "__main__":
    sys.exit(main())
