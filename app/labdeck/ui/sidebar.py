"""The projects sidebar: every project folder with its run count and its experiments;
add, remove, rescan. Choosing an item scopes the runs table."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from labdeck.db.entities import ProjectInfo

ALL_PROJECTS = "All projects"


@dataclass(frozen=True)
class Scope:
    project: str | None = None  # None: every project
    experiment: str | None = None


class ProjectsSidebar(QWidget):
    scope_changed = Signal(object)  # a Scope
    add_requested = Signal()
    remove_requested = Signal(str)
    rescan_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.projects = QTreeWidget()
        self.projects.setObjectName("projects")
        self.projects.setHeaderHidden(True)
        self.projects.setRootIsDecorated(True)
        self.projects.currentItemChanged.connect(
            lambda *_: self.scope_changed.emit(self.scope())
        )
        add = QPushButton("Add…")
        add.setToolTip("Add a project folder (or drop one on the window)")
        add.clicked.connect(self.add_requested)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip(
            "Forget the project and its runs (its files are untouched)"
        )
        self.remove_button.clicked.connect(self._remove)
        rescan = QPushButton("Rescan")
        rescan.clicked.connect(self.rescan_requested)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(QLabel("<b>Projects</b>"))
        layout.addWidget(self.projects, 1)
        for button in (add, self.remove_button, rescan):
            layout.addWidget(button)

    def scope(self) -> Scope:
        item = self.projects.currentItem()
        value = None if item is None else item.data(0, Qt.ItemDataRole.UserRole)
        return value if isinstance(value, Scope) else Scope()

    def current_project(self) -> str | None:
        return self.scope().project

    def set_projects(
        self,
        projects: list[ProjectInfo],
        experiments: list[tuple[str, str, int]] = (),
        *,
        select: Scope | None = None,
    ) -> None:
        current = select if select is not None else self.scope()
        self.projects.blockSignals(True)
        self.projects.clear()
        total = sum(p.run_count for p in projects)
        top = QTreeWidgetItem([f"{ALL_PROJECTS}  ({total:,})"])
        top.setData(0, Qt.ItemDataRole.UserRole, Scope())
        self.projects.addTopLevelItem(top)
        chosen = top
        by_project: dict[str, list[tuple[str, int]]] = {}
        for path, name, count in experiments:
            by_project.setdefault(path, []).append((name, count))
        for p in projects:
            item = QTreeWidgetItem([f"{p.name}  ({p.run_count:,})"])
            item.setToolTip(0, p.path)
            item.setData(0, Qt.ItemDataRole.UserRole, Scope(p.path))
            self.projects.addTopLevelItem(item)
            if Scope(p.path) == current:
                chosen = item
            for name, count in by_project.get(p.path, []):
                child = QTreeWidgetItem([f"{name}  ({count:,})"])
                child.setData(0, Qt.ItemDataRole.UserRole, Scope(p.path, name))
                child.setToolTip(0, f"experiment {name!r} in {p.path}")
                item.addChild(child)
                if Scope(p.path, name) == current:
                    chosen = child
        self.projects.expandAll()
        self.projects.setCurrentItem(chosen)
        self.projects.blockSignals(False)
        self.remove_button.setEnabled(len(projects) > 0)

    def paths(self) -> list[str]:
        return [
            self.projects.topLevelItem(i).data(0, Qt.ItemDataRole.UserRole).project
            for i in range(1, self.projects.topLevelItemCount())
        ]

    def _remove(self) -> None:
        path = self.current_project()
        if path is not None:
            self.remove_requested.emit(path)
