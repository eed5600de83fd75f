"""The console window: status strip, live plots, channel table, P&ID, sequence panel, event
log, and the ARM / START / ABORT controls. Live (a controller) or replay (a recorded run)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QMainWindow,
    QSlider,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from hil.gui.checkout_panel import CheckoutPanel
from hil.gui.client import CommandLink, TelemetrySource
from hil.gui.controls import OperatorControls
from hil.gui.dialogs import DialogDesk
from hil.gui.event_log import EventLog
from hil.gui.model import ConsoleModel
from hil.gui.panel import ConsolePanel, PanelFrame
from hil.gui.pid import PidView
from hil.gui.plots import PlotPanel
from hil.gui.prompt_bar import AlarmBar, BarSlot, PromptBar
from hil.gui.run_notice import RunNotice
from hil.gui.sequence_panel import SequencePanel
from hil.gui.status import StatusStrip
from hil.gui.tables import ChannelTable
from hil.safety import STATE_NAMES
from hil.service.auth import ClientKeys

FRAME_MS = 33  # 30 fps while the console keeps up
MAX_FRAME_MS = 500  # ... and never slower than 2 fps
CPU_SHARE = 1 / 3  # of one core, at most, while frames are expensive
IDLE_FRAME_MS = 250  # 4 fps while the stand sits SAFE (or FAULT) and nobody touches the console
IDLE_AFTER_S = 10.0  # ... this long after the last state change, event, command or mouse move


class MainWindow(OperatorControls, QMainWindow):
    """One window; ``connect_controller`` or ``open_replay`` gives it something to show."""

    def __init__(self, close_policy: str = "abort", station: str | None = None) -> None:
        super().__init__()
        self.station = station or default_station()
        pg.setConfigOptions(antialias=False, background="w", foreground="k")
        self.setWindowTitle(f"hil-stand console — station {self.station}")
        self.resize(1500, 950)
        self.model = ConsoleModel()
        self.close_policy = close_policy
        self.link: CommandLink | None = None
        self.telemetry: TelemetrySource | None = None
        self.where = ""
        self.last_status_at = 0.0
        self.replay: dict[str, Any] | None = None
        self.confirm_fn: Any = None  # None: confirmations are (non-modal) dialogs
        self.desk = DialogDesk(self, self)
        self._close_ok = False
        self._seq_asked: str | None = None  # the sequence (sha256) whose timeline was asked for
        self._msg_state: Any = None
        self.run_notice = RunNotice()
        self.on_quit: list[Any] = []

        central = QWidget()
        self.setCentralWidget(central)
        root = QVBoxLayout(central)
        root.setContentsMargins(4, 4, 4, 4)
        self.status = StatusStrip()
        root.addWidget(self.status)
        self.alarm_bar = AlarmBar()
        self.prompt_bar = PromptBar(self.answer)
        self.bar_slot = BarSlot(self.alarm_bar, self.prompt_bar)  # reserved height: nothing moves
        root.addWidget(self.bar_slot)

        root.addLayout(self._control_bar())

        split = QSplitter(Qt.Orientation.Horizontal)
        self.plots = PlotPanel(self.model)
        self.plots.on_mouse = self.touch
        self.plots.desk = self.desk
        split.addWidget(self.plots)
        self.tabs = QTabWidget()
        self.sequence = SequencePanel(self.send, self.desk.open_file)
        self.channels = ChannelTable()
        self.pid = PidView(self.send, self.ask, self.desk.number)
        self.checkout = CheckoutPanel(self.send, self.ask)
        self.events = EventLog()
        # the tabs, in order: every one is fed through gui/panel.py's interface, from this list
        self.panels: list[ConsolePanel] = [self.sequence, self.channels, self.pid, self.checkout, self.events]
        for panel in self.panels:
            assert isinstance(panel, QWidget), "a console panel is a widget: it becomes a tab"
            self.tabs.addTab(panel, panel.tab_title)
        split.addWidget(self.tabs)
        split.setSizes([1000, 500])
        root.addWidget(split, 1)

        self.scrub = QSlider(Qt.Orientation.Horizontal)
        self.scrub.setVisible(False)
        self.scrub.valueChanged.connect(self._scrubbed)
        root.addWidget(self.scrub)

        self.timer = QTimer(self)
        self.timer.timeout.connect(self.tick)
        self.timer.start(FRAME_MS)
        self.tick_ms = 0.0  # smoothed CPU cost of a frame (ms): tick, paint, telemetry
        self._tick_cpu: float | None = None
        self._tick_wall: float | None = None
        self._last_state: Any = None
        self._active_until = 0.0
        self._slow = 0
        self._update_buttons()

    def _pace(self, now: float) -> None:
        """Set the next frame's interval from what frames really cost: the GUI thread's CPU
        time since the previous tick (draining telemetry, drawing, painting), smoothed. The
        interval stays at least ``1 / CPU_SHARE`` times that cost, so the console takes at most
        about a third of a core and drops its frame rate (down to 2 fps) rather than starve the
        controller on a shared machine; and while the stand sits SAFE with nobody at the
        console it draws at 4 fps (a 60 s trace of a quiet stand gains nothing from 30)."""
        cpu = time.thread_time()  # the GUI thread: its ticks and its painting
        if self._tick_cpu is not None and self._tick_wall is not None and now > self._tick_wall:
            cost = (cpu - self._tick_cpu) * 1e3
            self.tick_ms = cost if not self.tick_ms else 0.8 * self.tick_ms + 0.2 * cost
        self._tick_cpu, self._tick_wall = cpu, now
        state = self.model.status.get("state")
        if state != self._last_state:
            self._last_state = state
            self.touch()
        idle = self.model.connected and state in ("SAFE", "FAULT") and now > self._active_until
        want = IDLE_FRAME_MS if idle else int(min(MAX_FRAME_MS, max(FRAME_MS, self.tick_ms / CPU_SHARE)))
        have = self.timer.interval()
        # hysteresis against jitter, but the floors are always reached (30 fps stuck at 36 ms was
        # within 20 % of 33 ms: the decay after a slow spell stopped short of the full rate)
        if want != have and (want in (FRAME_MS, IDLE_FRAME_MS) or abs(want - have) > 0.2 * have):
            self.timer.setInterval(want)

    def touch(self) -> None:
        """Something an operator looks at changed (or the operator moved): full frame rate."""
        self._active_until = time.monotonic() + IDLE_AFTER_S
        if self.timer.interval() > FRAME_MS and self.timer.interval() == IDLE_FRAME_MS:
            self.timer.setInterval(FRAME_MS)

    # ------------------------------------------------------------------ live link

    def connect_controller(self, rep: str, pub: str, keys: ClientKeys | None = None) -> None:
        """Talk to the controller at these endpoints (the console is only a client); ``keys``
        for a controller that requires CURVE authentication."""
        self.disconnect_controller()
        self.where = f"{rep} · station {self.station}"  # the strip says which console this is
        self.link = CommandLink(rep, pub, keys=keys, name=self.station)
        self.link.reply.connect(self.on_reply)
        self.telemetry = TelemetrySource(pub, keys)
        self.model.connected = False
        self._seq_asked = None
        self.link.send("meta")
        self.status.set_connected(False, rep)

    def disconnect_controller(self) -> None:
        if self.link:
            self.link.close()
        if self.telemetry:
            self.telemetry.close()
        self.link = self.telemetry = None

    def send(self, cmd: str, **args: Any) -> None:
        if self.replay is not None:
            self.show_message("replay: nothing is commanded")
            return
        if self.link is None:
            self.show_message("not connected to a controller")
            return
        self.touch()
        self.link.send(cmd, **args)

    def on_reply(self, cmd: str, reply: dict[str, Any]) -> None:
        if cmd == "meta" and reply.get("ok"):
            self.model.configure(reply)
            self.plots.configure()
            for panel in self.panels:
                panel.configure(reply)
            self.model.connected = True
            self.status.set_connected(True, self.where)
            self.show_message(f"connected to {reply.get('stand')}")
            return
        for panel in self.panels:
            panel.on_reply(cmd, reply)
        if not reply.get("ok"):
            if reply.get("timeout") and cmd == "meta":
                if self.link is not None:
                    self.link.send("meta")  # keep asking until a controller is there
            self.show_message(f"REFUSED {cmd}: {reply.get('refused', '?')}", error=True)
        elif cmd != "status":
            self.show_message(f"{cmd}: ok" + (f" → {reply['state']}" if "state" in reply else ""))

    def show_message(self, text: str, error: bool = False) -> None:
        """A command's answer; cleared when the stand changes state (it would go stale)."""
        self._msg_state = self.model.status.get("state")
        self.message.setText(text)
        self.message.setStyleSheet("color: #c62828; font-weight: bold;" if error else "color: #2e7d32;")

    # ------------------------------------------------------------------ the frame

    def tick(self) -> None:
        """Up to 30 Hz (slower when frames get expensive, see :meth:`_pace`): drain telemetry,
        update every panel; the heavy ones every sixth tick."""
        if self.replay is not None:
            return
        now = time.monotonic()
        if self.telemetry is not None:
            for kind, payload in self.telemetry.drain():
                if kind == "tlm":
                    if self.model.buffer is not None:
                        self.model.add_rows(payload.rows)
                elif kind == "evt":
                    self.touch()
                    self.model.events.append(payload)
                    self.alarm_bar.on_event(payload)
                    self.run_notice.on_event(payload)
                    for panel in self.panels:
                        panel.on_event(payload)
                elif kind == "status":
                    if not self.model.connected and self.link:
                        self.link.send("meta")  # the controller (re)appeared
                    self.model.status = payload
                    self.run_notice.on_status(payload)
                    self.last_status_at = now
        if self.model.connected and now - self.last_status_at > 2.0 and self.last_status_at:
            self.model.connected = False
            self.status.set_connected(False, self.where + " (no status for 2 s)")
        elif self.model.connected:
            self.status.set_connected(True, self.where)
        st = self.model.status
        step = int(st.get("step", -1) if st.get("step") is not None else -1)
        self.status.update_status(st, self.sequence.step_text(step))
        self.status.next.setText(self.sequence.next_prompt(step, st.get("t_seq")))
        self.prompt_bar.update_prompt(st.get("prompt"), st.get("t"))
        self.alarm_bar.update_reason(st)
        self.bar_slot.refresh()
        self._follow_sequence(st)
        if self._msg_state is not None and st.get("state") != self._msg_state and self.message.text():
            self.message.setText("")  # "resume: ok → RUNNING" is not true in FAULT
        if (done := self.run_notice.poll(st.get("state"))) is not None:
            self.show_message(done)
        if st.get("held_by"):
            self.status.clock.setText(self.status.clock.text() + "  HOLD")
        self._update_buttons()
        self.plots.refresh()
        self._pace(now)
        self._slow += 1
        due = [p for p in self.panels if self._slow % p.frame_every == 0]
        if due:
            frame = PanelFrame(latest=self.model.latest(), status=st, state=st.get("state", "—"), step=step,
                               pc_channel=self.model.meta.get("pc_channel", "pc"),
                               disqualified=tuple(st.get("disqualified", [])), replay=False)
            for panel in due:
                panel.show_frame(frame)
        if self._slow % 6 == 0:
            if self.pid.refusal:
                self.show_message(f"manual command not sent: {self.pid.refusal}", error=True)
                self.pid.refusal = ""
            self._update_buttons()

    # ------------------------------------------------------------------ replay

    def open_replay(self, run_dir: str) -> None:
        """Show a recorded run with the same panels; the slider scrubs through it."""
        from hil.gui.replay import load_replay

        self.disconnect_controller()
        rp = load_replay(run_dir)
        self.replay = rp
        self.model.configure(rp["meta"], seconds=60.0)
        self.model.follow_clock(rp["rows"])  # the run's T-0 and stops, known in full
        self.plots.configure()
        for panel in self.panels:
            panel.forget()
            panel.configure(rp["meta"])
            for ev in rp["events"]:
                panel.on_event(ev)
        self.sequence.show_sequence(rp["sequence"])  # the recorded timeline (inputs/ copy)
        self.sequence.title.setText(f"replay: {run_dir}\n{self.sequence.loaded}")
        self.sequence.check.setText(rp.get("outcome", ""))
        self.sequence.open_btn.setEnabled(False)
        self.status.set_connected(False, "replay")
        self.scrub.setVisible(True)
        self.scrub.setRange(0, len(rp["rows"]) - 1)
        self.scrub.setValue(len(rp["rows"]) - 1)
        self._scrubbed(len(rp["rows"]) - 1)
        self._update_buttons()

    def _scrubbed(self, i: int) -> None:
        if self.replay is None:
            return
        rows = self.replay["rows"]
        t = rows[i, 0]
        lo = int(np.searchsorted(rows[:, 0], t - self.plots.window_s))
        window = rows[lo : i + 1]
        self.plots.refresh(window)
        latest = dict(zip(self.model.columns, rows[i].tolist()))
        state = STATE_NAMES[int(rows[i, 1])] if np.isfinite(rows[i, 1]) else "—"
        t_seq = latest.get("t_seq", np.nan)
        step = int(latest["step"]) if np.isfinite(latest.get("step", np.nan)) else -1
        loop = self.replay.get("loop") or {}  # the run's recorded loop figures, not this console's
        st = {"state": state, "t_seq": t_seq if np.isfinite(t_seq) else None, "recording": False, "comm_ok": True,
              **{k: loop[k] for k in ("cycles", "overruns", "failed_cycles", "deadlines_due",
                                      "deadlines_met_share") if k in loop}}
        self.status.update_status(st, self.sequence.step_text(step))
        self.status.set_state(f"REPLAY {state}")
        frame = PanelFrame(latest=latest, status=st, state="REPLAY", step=step,
                           pc_channel=self.model.meta.get("pc_channel", "pc"), disqualified=(), replay=True)
        for panel in self.panels:
            panel.show_frame(frame)

    # ------------------------------------------------------------------ closing

    def _follow_sequence(self, st: dict[str, Any]) -> None:
        """Every station shows the loaded sequence, whoever loaded it: when the status names a
        sequence (its sha256) this console has no timeline of, it asks for it."""
        sha = st.get("sequence_sha256")
        if sha and sha != self.sequence.sha256 and sha != self._seq_asked and self.link is not None:
            self._seq_asked = sha
            self.link.send("sequence")

    def closeEvent(self, event: Any) -> None:
        """Closing mid-burn asks first (Cancel by default, a non-modal question), then follows
        the stand policy: by default abort, then leave."""
        state = self.model.status.get("state")
        if self.replay is None and state in ("ARMED", "RUNNING", "ABORTING") and not self._close_ok:
            then = "the run will be ABORTED" if self.close_policy == "abort" else "the run goes on without this console"
            event.ignore()
            answered_now = self.confirm_fn is not None

            def confirmed() -> None:
                self._close_ok = True
                if not answered_now:
                    self.close()

            self.ask(f"The stand is {state}. Close the console anyway?\n\nIf you do, {then}.", confirmed)
            if not (answered_now and self._close_ok):
                return
        if self.replay is None and self.link is not None and state in ("ARMED", "RUNNING") and self.close_policy == "abort":
            self.link.send("abort", reason=f"console closed during a run (policy: abort; station {self.station})")
            deadline = time.monotonic() + 3.0
            while time.monotonic() < deadline and self.link.pending():
                time.sleep(0.01)
        for cb in self.on_quit:
            cb()
        self.timer.stop()
        self.desk.close_all()
        self.disconnect_controller()
        event.accept()


def default_station() -> str:
    """``user@host#pid``: two consoles of one user on one host differ by their process."""
    import getpass
    import os
    import socket

    return f"{getpass.getuser()}@{socket.gethostname()}#{os.getpid()}"
