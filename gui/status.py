"""The status strip: connection, stand state (coloured), T-clock, current step, loop health,
recording. Large enough to read from across the control room."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel

STATE_COLOURS = {"SAFE": "#2e7d32", "ARMED": "#f9a825", "RUNNING": "#1565c0", "ABORTING": "#c62828",
                 "FAULT": "#6a1b9a", "REPLAY": "#455a64", "—": "#616161"}


# Deadlines met over deadlines due (over the last 10 s when the controller says): green from
# 99.5 %, amber below, red below 98 %. A loop missing 1 deadline in 250 is doing its job (the
# firmware watchdog allows far more); amber at 99.6 % taught crews to ignore the box.
HEALTHY_SHARE = 0.995
DEGRADED_SHARE = 0.98


def loop_health(st: dict[str, Any]) -> tuple[str, str]:
    """How the loop is doing, for the status strip: "ok", "amber" or "red", and why."""
    if not st.get("comm_ok", True):
        return "red", f"communication lost ({st.get('last_error') or 'no answer'})"
    if st.get("loop_degraded"):
        return "red", "loop degraded" + (f": {st['last_error']}" if st.get("last_error") else "")
    # judged on the last seconds (a bad start-up must not leave the strip red all day), on the
    # whole run when the controller gives no recent figure
    share, due = st.get("recent_met_share", st.get("deadlines_met_share")), st.get("deadlines_due", 0)
    window = f" over the last {st['recent_s']:g} s" if "recent_met_share" in st else ""
    if isinstance(share, (int, float)) and due >= 1000:
        if share < DEGRADED_SHARE:
            return "red", f"missing deadlines: {100 * share:.1f} %{window} (below {100 * DEGRADED_SHARE:g} %)"
        if share < HEALTHY_SHARE:
            return "amber", f"missing deadlines: {100 * share:.2f} %{window} (below {100 * HEALTHY_SHARE:g} %)"
    return "ok", ""


class StatusStrip(QFrame):
    """One row of labels; ``update_status`` takes the controller's status dict."""

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("statusStrip")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(6, 4, 6, 4)
        self.conn = QLabel("● disconnected")
        self.state = QLabel("—")
        self.state.setObjectName("stateLabel")
        self.state.setMinimumWidth(170)
        self.clock = QLabel("T  --")
        self.step = QLabel("step: -")
        self.next = QLabel("")  # the next GO/NO-GO poll of the running sequence
        self.next.setStyleSheet("color: #e65100; font-weight: bold;")
        self.health = QLabel("loop: -")
        self.devices = QLabel("")
        self.rec = QLabel("rec: -")
        for w in (self.conn, self.state, self.clock, self.step, self.next, self.health, self.devices, self.rec):
            lay.addWidget(w)
        lay.insertStretch(5, 1)
        self.clock.setStyleSheet("font: bold 16pt monospace;")
        # a long reason wraps instead of widening the window past a 1280-pixel screen
        self.health.setWordWrap(True)
        self.health.setMaximumWidth(560)
        self.set_state("—")

    def set_state(self, state: str, reason: str = "") -> None:
        colour = STATE_COLOURS.get(state, "#616161")
        self.state.setText(state)
        self.state.setToolTip(reason)
        self.state.setStyleSheet(f"background:{colour}; color:white; font: bold 18pt sans-serif; padding: 2px 14px;"
                                 "border-radius: 4px;")

    def set_connected(self, ok: bool, where: str = "") -> None:
        self.conn.setText(("● connected " if ok else "● no controller ") + where)
        self.conn.setStyleSheet(f"color: {'#2e7d32' if ok else '#c62828'}; font-weight: bold;")

    def update_status(self, st: dict[str, Any], step_text: str = "") -> None:
        self.set_state(st.get("state", "—"), st.get("reason", ""))
        t_seq = st.get("t_seq")
        self.clock.setText(f"T{t_seq:+8.2f}" if isinstance(t_seq, (int, float)) else "T   --")
        self.step.setText(step_text or "step: -")
        due, share = st.get("deadlines_due", 0), st.get("deadlines_met_share")
        failed = st.get("failed_cycles", 0)
        met = f"{100 * share:.2f} % of {due} deadlines met" if isinstance(share, (int, float)) and due else "no deadlines yet"
        level, why = loop_health(st)
        self.health.setText(f"loop: {met}, {failed} failed" + (f" — {why}" if why else ""))
        self.health.setToolTip(f"{st.get('cycles', 0)} cycles run, {st.get('overruns', 0)} deadlines skipped "
                               "(a skipped deadline is a miss)" + (f"\nlast error: {st['last_error']}"
                                                                  if st.get("last_error") else ""))
        self.health.setStyleSheet({"red": "color: white; background: #c62828; font-weight: bold; padding: 2px 6px;",
                                   "amber": "color: black; background: #ffb300; font-weight: bold; padding: 2px 6px;"}
                                  .get(level, ""))
        devs: dict[str, str] = st.get("devices") or {}
        bad = {n: h for n, h in devs.items() if h != "ok"}
        if len(devs) > 1 or bad:
            self.devices.setText("devices: " + (" · ".join(f"{n} {h.upper()}" for n, h in bad.items()) if bad
                                                else f"{len(devs)} ok"))
            lines = st.get("line_stats") or {}
            self.devices.setToolTip("\n".join(f"{n}: {h}" + line_counts(lines.get(n)) for n, h in devs.items()))
        else:
            self.devices.setText("")  # a stand of one device: the loop figures say it all
        self.devices.setStyleSheet("color: #c62828; font-weight: bold;" if bad else "")
        self.rec.setText("● REC" if st.get("recording") else "rec off")
        self.rec.setStyleSheet("color: #c62828; font-weight: bold;" if st.get("recording") else "")


def line_counts(stats: dict[str, int] | None) -> str:
    """A device's link counters that are not zero (retries, timeouts, dropped frames), for its tooltip."""
    keys = ("retries", "timeouts", "late_answers", "wrong_unit", "wrong_function", "wrong_count", "wrong_echo",
            "wrong_tid", "crc_errors", "bad_mbap")
    shown = [f"{k.replace('_', ' ')} {stats[k]}" for k in keys if stats and stats.get(k)]
    return f" ({', '.join(shown)})" if shown else ""
