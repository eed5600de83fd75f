"""The operator arranges the plots: add and remove plots below chamber pressure, name them and
choose their channels from the stand's list (outputs' commands included). The layout is kept
per stand (gui/plots.py: ``save_layout``) and used live and in replay."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
)

from hil.gui.dialogs import AbortDialog, AbortHost


class PlotLayoutDialog(AbortDialog):
    """Plots on the left, the selected plot's title and channels on the right; non-modal, with
    ABORT (gui/dialogs.py): it may stay open through a burn."""

    def __init__(self, host: AbortHost, specs: list[dict[str, Any]], columns: list[str], parent: Any = None) -> None:
        super().__init__(host, "Plots", parent)
        self.specs = [{"key": sp["key"], "title": sp["title"], "channels": list(sp["channels"])} for sp in specs]
        self.columns = columns
        lay = QHBoxLayout()
        self.body.addLayout(lay)
        left = QVBoxLayout()
        left.addWidget(QLabel("Plots (chamber pressure stays first)"))
        self.plot_list = QListWidget()
        left.addWidget(self.plot_list, 1)
        row = QHBoxLayout()
        self.add_btn = QPushButton("Add plot")
        self.remove_btn = QPushButton("Remove plot")
        row.addWidget(self.add_btn)
        row.addWidget(self.remove_btn)
        left.addLayout(row)
        lay.addLayout(left)
        right = QVBoxLayout()
        self.title = QLineEdit()
        right.addWidget(QLabel("Title"))
        right.addWidget(self.title)
        right.addWidget(QLabel("Channels"))
        self.channel_list = QListWidget()
        for c in columns:
            item = QListWidgetItem(c)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            self.channel_list.addItem(item)
        right.addWidget(self.channel_list, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        right.addWidget(buttons)
        lay.addLayout(right, 1)
        self.add_btn.clicked.connect(self.add_plot)
        self.remove_btn.clicked.connect(self.remove_plot)
        self.plot_list.currentRowChanged.connect(self._show)
        self.title.textEdited.connect(self._rename)
        self.channel_list.itemChanged.connect(self._toggle)
        self._refill(0)

    def _refill(self, select: int) -> None:
        self.plot_list.clear()
        for sp in self.specs:
            self.plot_list.addItem(sp["title"])
        if self.specs:
            self.plot_list.setCurrentRow(min(select, len(self.specs) - 1))
        self.remove_btn.setEnabled(bool(self.specs))

    def _show(self, row: int) -> None:
        sp = self.specs[row] if 0 <= row < len(self.specs) else None
        self.title.setText(sp["title"] if sp else "")
        self.channel_list.blockSignals(True)
        for i in range(self.channel_list.count()):
            item = self.channel_list.item(i)
            on = sp is not None and item.text() in sp["channels"]
            item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
        self.channel_list.blockSignals(False)

    def _current(self) -> dict[str, Any] | None:
        row = self.plot_list.currentRow()
        return self.specs[row] if 0 <= row < len(self.specs) else None

    def _rename(self, text: str) -> None:
        sp = self._current()
        if sp is not None:
            sp["title"] = text
            self.plot_list.currentItem().setText(text)

    def _toggle(self, item: QListWidgetItem) -> None:
        sp = self._current()
        if sp is None:
            return
        name = item.text()
        if item.checkState() == Qt.CheckState.Checked and name not in sp["channels"]:
            sp["channels"].append(name)
        elif item.checkState() != Qt.CheckState.Checked and name in sp["channels"]:
            sp["channels"].remove(name)

    def add_plot(self) -> None:
        self.specs.append({"key": "", "title": f"plot {len(self.specs) + 1}", "channels": []})
        self._refill(len(self.specs) - 1)

    def remove_plot(self) -> None:
        row = self.plot_list.currentRow()
        if 0 <= row < len(self.specs):
            del self.specs[row]
            self._refill(row)

    def check(self, name: str, on: bool = True) -> None:
        """Tick a channel of the selected plot (what a click does)."""
        for i in range(self.channel_list.count()):
            item = self.channel_list.item(i)
            if item.text() == name:
                item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
