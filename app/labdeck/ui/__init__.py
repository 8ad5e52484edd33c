"""The desktop app (PySide6 and pyqtgraph live only in this package)."""

from labdeck.ui import pyside_import_check

pyside_import_check.install()
