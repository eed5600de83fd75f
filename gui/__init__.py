"""The test console: a PySide6 + pyqtgraph client of the controller process."""
