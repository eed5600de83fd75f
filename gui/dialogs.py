"""Every dialog the console shows, built so that none of them can keep ABORT from the operator.

Why not modal dialogs: a modal dialog (``exec()``, ``QMessageBox.question``,
``QInputDialog.getDouble``, ``QFileDialog.getOpenFileName``) runs a nested event loop that
blocks input to the main window, its ABORT button included, and its application shortcuts too;
Esc only closes the dialog. So here every dialog is *non-modal*: the main window stays usable
under it (its ABORT button and keys act at once), and every dialog also carries its own big
ABORT button and the three ABORT keys (Esc, Ctrl+Space, F12) routed to the window's ``abort()``.
Esc keeps its "close" meaning only while nothing can burn: with the stand ARMED, RUNNING or
ABORTING, Esc in a dialog aborts the run (and closes the dialog). Answers come back through
callbacks instead of a return value (nothing waits in a nested loop); confirmations keep
Cancel as their default button, so a stray Enter moves nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

ABORT_KEYS = ("Escape", "Ctrl+Space", "F12")
LIVE_STATES = ("ARMED", "RUNNING", "ABORTING")  # Esc means ABORT in these, everywhere
ABORT_STYLE = ("QPushButton#abortButton { background: #c62828; color: white; font: bold 16pt sans-serif; "
               "border-radius: 6px; }")


class AbortHost(Protocol):
    """What a dialog needs from the window: its abort and whether the stand can burn now."""

    def abort(self) -> None: ...

    def stand_live(self) -> bool: ...


def _noop() -> None:
    return None


class AbortDialog(QDialog):
    """The base of every console dialog: non-modal, with an ABORT button and the ABORT keys.
    Subclasses put their content in ``self.body``."""

    def __init__(self, host: AbortHost, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.host = host
        self.setWindowTitle(title)
        self.setModal(False)
        self.setWindowModality(Qt.WindowModality.NonModal)
        outer = QVBoxLayout(self)
        self.body = QVBoxLayout()
        outer.addLayout(self.body, 1)
        self.abort_btn = QPushButton("ABORT  (Esc · Ctrl+Space · F12)")
        self.abort_btn.setObjectName("abortButton")
        self.abort_btn.setStyleSheet(ABORT_STYLE)
        self.abort_btn.setMinimumHeight(48)
        self.abort_btn.setAutoDefault(False)
        self.abort_btn.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Enter/space never land on it by accident
        self.abort_btn.clicked.connect(self.host.abort)
        outer.addWidget(self.abort_btn)
        self.shortcuts: list[QShortcut] = []
        for key in ABORT_KEYS:
            sc = QShortcut(QKeySequence(key), self)
            sc.setContext(Qt.ShortcutContext.WindowShortcut)
            sc.activated.connect(lambda k=key: self.abort_key(k))
            self.shortcuts.append(sc)

    def abort_key(self, key: str) -> None:
        """Ctrl+Space and F12 always abort; Esc aborts (and closes) while the stand is live,
        else it only closes the dialog."""
        if key == "Escape":
            if self.host.stand_live():
                self.host.abort()
            self.reject()
            return
        self.host.abort()

    def keyPressEvent(self, event: Any) -> None:
        """An Esc that reached the dialog without its shortcut (a child took the override)
        still follows the rule above, never QDialog's bare reject."""
        if event.key() == Qt.Key.Key_Escape:
            self.abort_key("Escape")
            return
        super().keyPressEvent(event)


class ConfirmDialog(AbortDialog):
    """Yes / Cancel with Cancel the default; ``then`` runs on Yes, ``otherwise`` on anything else."""

    def __init__(self, host: AbortHost, text: str, then: Callable[[], None],
                 otherwise: Callable[[], None] | None = None, parent: QWidget | None = None) -> None:
        super().__init__(host, "Confirm", parent)
        self.text = QLabel(text)
        self.text.setWordWrap(True)
        self.text.setMinimumWidth(380)
        self.body.addWidget(self.text)
        row = QHBoxLayout()
        row.addStretch(1)
        self.yes_btn = QPushButton("Yes")
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setDefault(True)
        self.yes_btn.setAutoDefault(False)
        row.addWidget(self.yes_btn)
        row.addWidget(self.cancel_btn)
        self.body.addLayout(row)
        self.yes_btn.clicked.connect(self.accept)
        self.cancel_btn.clicked.connect(self.reject)
        self.accepted.connect(then)
        self.rejected.connect(otherwise or _noop)
        self.cancel_btn.setFocus()


class NumberDialog(AbortDialog):
    """A number in a range (a proportional valve's position); ``then(value)`` on OK."""

    def __init__(self, host: AbortHost, title: str, label: str, value: float, lo: float, hi: float,
                 then: Callable[[float], None], parent: QWidget | None = None) -> None:
        super().__init__(host, title, parent)
        self.body.addWidget(QLabel(label))
        self.spin = QDoubleSpinBox()
        self.spin.setRange(lo, hi)
        self.spin.setDecimals(1)
        self.spin.setValue(value)
        self.body.addWidget(self.spin)
        row = QHBoxLayout()
        row.addStretch(1)
        self.ok_btn = QPushButton("OK")
        self.cancel_btn = QPushButton("Cancel")
        self.ok_btn.setDefault(True)
        row.addWidget(self.ok_btn)
        row.addWidget(self.cancel_btn)
        self.body.addLayout(row)
        self.ok_btn.clicked.connect(self.accept)
        self.cancel_btn.clicked.connect(self.reject)
        self.accepted.connect(lambda: then(self.spin.value()))


class FileDialog(AbortDialog):
    """Qt's own (non-native) file chooser inside the ABORT-carrying frame; ``then(path)``."""

    def __init__(self, host: AbortHost, title: str, start_dir: str, pattern: str, then: Callable[[str], None],
                 parent: QWidget | None = None) -> None:
        super().__init__(host, title, parent)
        self.chooser = QFileDialog(self, title, start_dir, pattern)
        self.chooser.setOption(QFileDialog.Option.DontUseNativeDialog, True)
        self.chooser.setFileMode(QFileDialog.FileMode.ExistingFile)
        self.chooser.setWindowFlags(Qt.WindowType.Widget)  # a part of this dialog, not a window of its own
        self.body.addWidget(self.chooser)
        self.then = then
        self.chooser.fileSelected.connect(self._chosen)
        self.chooser.rejected.connect(self.reject)
        self.resize(760, 520)

    def _chosen(self, path: str) -> None:
        self.accept()
        self.then(path)


class DialogDesk:
    """Opens the console's dialogs (never modal) and keeps the open ones, so a test can find
    them and the window can close them on exit."""

    def __init__(self, host: AbortHost, parent: QWidget) -> None:
        self.host, self.parent = host, parent
        self.open: list[AbortDialog] = []

    def show(self, dialog: AbortDialog) -> AbortDialog:
        self.open.append(dialog)
        dialog.finished.connect(lambda _r, d=dialog: self.open.remove(d) if d in self.open else None)
        dialog.show()
        dialog.raise_()
        dialog.activateWindow()
        return dialog

    def confirm(self, text: str, then: Callable[[], None], otherwise: Callable[[], None] | None = None) -> AbortDialog:
        return self.show(ConfirmDialog(self.host, text, then, otherwise, self.parent))

    def number(self, title: str, label: str, value: float, lo: float, hi: float,
               then: Callable[[float], None]) -> AbortDialog:
        return self.show(NumberDialog(self.host, title, label, value, lo, hi, then, self.parent))

    def open_file(self, title: str, start_dir: str, pattern: str, then: Callable[[str], None]) -> AbortDialog:
        return self.show(FileDialog(self.host, title, start_dir, pattern, then, self.parent))

    def close_all(self) -> None:
        for d in list(self.open):
            d.reject()
