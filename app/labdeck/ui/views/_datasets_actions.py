"""What the Datasets view does with selected versions: diff, validation, rules, verify, checkout, lineage.

A mixin of ``DatasetsView`` (kept apart so each module stays small); every action runs in a
background job and shows its result in one of the view's tabs.
"""

from __future__ import annotations

import json

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QLabel,
    QPlainTextEdit,
    QTreeWidgetItem,
    QVBoxLayout,
)

from labdeck.datasets.report import diff_text, size_text, validation_text
from labdeck.datasets.rules import RulesError, check_rules

DIFF_TAB, VALIDATION_TAB = 3, 4


def _message(exc: BaseException) -> str:
    return str(exc.args[0]) if exc.args else type(exc).__name__


class RulesDialog(QDialog):
    """Edit a dataset's rules as JSON; checked before it closes."""

    def __init__(self, name: str, rules: dict, strict: bool, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Validation rules of {name}")
        self.text = QPlainTextEdit(json.dumps(rules, indent=2) if rules else "{\n  \"columns\": {}\n}")
        self.strict = QCheckBox("Refuse new versions that break a rule (otherwise warn)")
        self.strict.setChecked(strict)
        self.error = QLabel()
        self.error.setStyleSheet("color: #b00020")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self._check)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        for w in (self.text, self.strict, self.error, self.buttons):
            layout.addWidget(w)
        self.rules: dict = rules

    def _check(self) -> None:
        try:
            self.rules = check_rules(json.loads(self.text.toPlainText() or "{}"))
        except ValueError as exc:  # JSON and RulesError alike: say what, keep the dialog open
            self.error.setText(str(exc) if isinstance(exc, RulesError) else f"not valid JSON: {exc}")
            return
        self.accept()


class VersionActions:
    # Diff --------------------------------------------------------------------------

    def compare_selected(self) -> None:
        chosen = self.selected_versions()
        if len(chosen) != 2 or chosen[0][0] != chosen[1][0]:
            self.status.setText("Select two versions of one dataset to compare them.")
            return
        (name, a), (_, b) = sorted(chosen)
        self.jobs.start(lambda _t: self.datasets.diff(name, a, b), self._show_diff)

    def _show_diff(self, result) -> None:
        self.diff.setPlainText(_message(result) if isinstance(result, Exception) else diff_text(result))
        self.details.setCurrentIndex(DIFF_TAB)

    # Validation and rules ---------------------------------------------------------------

    def _one_selected(self, what: str) -> tuple[str, int] | None:
        chosen = self.selected_versions()
        if len(chosen) != 1:
            self.status.setText(f"Select one version to {what}.")
            return None
        return chosen[0]

    def validate_selected(self) -> None:
        chosen = self._one_selected("validate")
        if chosen:
            name, version = chosen
            ds = self.datasets
            self.jobs.start(lambda _t: (ds.validate(name, version), ds.rules(name)), self._show_validation)

    def _show_validation(self, result) -> None:
        if isinstance(result, Exception):
            self.validation.setPlainText(_message(result))
        else:
            report, (rules, strict) = result
            mode = "refuses" if strict else "warns about"
            rules_text = json.dumps(rules, indent=2) if rules else "(none)"
            self.validation.setPlainText(
                f"{validation_text(report)}\n\nRules (adding a version that breaks them {mode} it):\n{rules_text}"
            )
        self.details.setCurrentIndex(VALIDATION_TAB)

    def edit_rules(self) -> None:
        chosen = self._one_selected("edit its dataset's rules")
        if chosen:
            name = chosen[0]
            self.jobs.start(lambda _t: self.datasets.rules(name), lambda r: self._open_rules(name, r))

    def _open_rules(self, name: str, result) -> None:
        if isinstance(result, Exception):
            self.status.setText(_message(result))
            return
        self.rules_dialog = RulesDialog(name, *result, parent=self)
        self.rules_dialog.accepted.connect(lambda d=self.rules_dialog: self._save_rules(name, d))
        self.rules_dialog.open()

    def _save_rules(self, name: str, dialog: RulesDialog) -> None:
        rules, strict = dialog.rules, dialog.strict.isChecked()
        self.jobs.start(lambda _t: self.datasets.set_rules(name, rules, strict=strict),
                        lambda r: self._rules_saved(name, r))

    def _rules_saved(self, name: str, result) -> None:
        self.status.setText(_message(result) if isinstance(result, Exception) else f"Saved the rules of {name}.")
        if not isinstance(result, Exception):
            self.validate_selected()

    # Verify and checkout --------------------------------------------------------------

    def verify_selected(self) -> None:
        chosen = self._one_selected("verify")
        if chosen:
            name, version = chosen
            self.jobs.start(lambda task: self.datasets.verify(name, version, task),
                            lambda r: self._show_verify(name, version, r))

    def _show_verify(self, name: str, version: int, result) -> None:
        if isinstance(result, Exception):
            text = _message(result)
        elif not result:
            text = f"{name} version {version}: every file is present and matches its hash."
        else:
            text = f"{name} version {version} fails verification:\n" + "\n".join(
                f"  {rel}: {problem}" for rel, problem in result.items())
        self.validation.setPlainText(text)
        self.details.setCurrentIndex(VALIDATION_TAB)

    def checkout_selected(self) -> None:
        chosen = self._one_selected("check out")
        if chosen:
            dest = QFileDialog.getExistingDirectory(self, f"Check out {chosen[0]} version {chosen[1]} into")
            if dest:
                self.checkout_to(chosen[0], chosen[1], dest)

    def checkout_to(self, name: str, version: int, dest: str) -> None:
        self.status.setText(f"Checking out {name} version {version} into {dest}…")
        self.jobs.start(lambda task: self.datasets.checkout(name, version, dest, task=task), self._checked_out)

    def _checked_out(self, result) -> None:
        if isinstance(result, Exception):
            self.status.setText(f"Checkout failed: {_message(result)}")
        else:
            self.status.setText(f"Checked out {result.files} file(s), {size_text(result.bytes)} into {result.dest} "
                                "(each verified against its hash).")

    # Lineage ---------------------------------------------------------------------------

    def _inputs_of_run(self) -> None:
        ref = self.run_ref.text().strip()
        if ref:
            self.jobs.start(lambda _t: self.datasets.inputs_of_run(ref), self._show_inputs)

    def _show_inputs(self, result) -> None:
        self.lineage.clear()
        if isinstance(result, Exception):
            self.status.setText(_message(result))
            return
        for u in result:
            self.lineage.addTopLevelItem(QTreeWidgetItem([u.run_id, u.run_name, f"{u.dataset}:{u.version}", u.context]))
        self.status.setText(f"run {self.run_ref.text().strip()} used {len(result)} dataset version(s)")
