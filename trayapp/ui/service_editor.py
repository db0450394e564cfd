"""The Services page of the Settings window (issue #11, section 2): the services with Add, Edit,
Duplicate and Remove, a form per kind with each mistake beside its field, Test, and Add project
folder….

The page does no I/O on the GUI thread: reading a service's table, saving (through
:class:`SettingsController`, which applies the change live) and a Test (one check, on the lookup
executor) run off it, and come back to slots. The form holds no rules of its own: what is wrong
is what :func:`trayapp.config.load.parse_config` says, shown beside the field its
``ConfigError.field`` names. Everything shown from a file is plain text; credentials in a URI are
shown as ``***`` until the field is edited.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from PySide6.QtCore import QEvent, Qt, Signal, Slot
from PySide6.QtGui import QFocusEvent, QShortcutEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from trayapp.checks.checker import check_once
from trayapp.config.load import Config, ConfigError, infer_kind
from trayapp.config.redact import redact_uri
from trayapp.config.service_tables import (
    FIELDS,
    Check,
    Field,
    ServiceEdit,
    add_service,
    duplicate_service,
    preview_service,
    read_only_reason,
    remove_service,
    replace_service,
    service_values,
    text_of,
    value_of,
)
from trayapp.model import CheckResult, Kind, State
from trayapp.ui.icons import state_colour
from trayapp.ui.settings import Applied, ServicesEdited, SettingsController
from trayapp.ui.tasks import Task
from trayapp.ui.widgets import plain_label

GROUPS = (
    ("service", "Service"),
    ("target", "What to check"),
    ("check", "How often, and when it counts as down"),
    ("relations", "Depends on"),
    ("process", "Run it (optional: trayapp starts and stops it)"),
)
#: fields whose value may hold a password (user info of a URL or URI)
SECRET_FIELDS = frozenset({"url", "uri"})


class SecretLineEdit(QLineEdit):
    """A line edit that shows its value with credentials as ``***`` until it gets the focus (to be
    edited), then the value as written."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._real: str | None = None

    def set_value(self, text: str) -> None:
        shown = redact_uri(text)
        self._real = text if shown != text else None
        self.setText(shown)

    def value(self) -> str:
        return self._real if self._real is not None else self.text()

    def focusInEvent(self, event: QFocusEvent) -> None:  # noqa: N802 - Qt's name
        self.reveal()
        super().focusInEvent(event)

    def reveal(self) -> None:
        if self._real is not None:
            real, self._real = self._real, None
            self.setText(real)


class Button(QPushButton):
    """A push button whose mnemonic (Alt and its underlined letter) clicks it at once.

    Qt's own button shows itself pressed for 100 ms first and clicks after, so the keys typed
    in between went to the widget that had the focus before: Alt+A and a name typed right
    after it lost the name's first letters to the list. Ambiguous mnemonics keep Qt's way
    (the focus moves to the button)."""

    def event(self, event: QEvent) -> bool:
        if isinstance(event, QShortcutEvent) and not event.isAmbiguous():
            self.click()
            return True
        return super().event(event)


class Note(QLabel):
    """A line of plain text (never HTML) that takes no room while it is empty."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.setObjectName(name)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setVisible(False)

    def setText(self, text: str) -> None:  # noqa: N802 - Qt's name
        super().setText(text)
        self.setVisible(bool(text))

    def clear(self) -> None:
        super().clear()
        self.setVisible(False)


class ServiceForm(QWidget):
    """The fields of one ``[[service]]`` table, each with a label beside it for its mistake.

    ``values()`` gives each key's value to write: a field left as it was loaded gives the value as
    written (even one the form would show differently, like ``start = ["node", "server.js"]``);
    a field that does not apply to the chosen kind gives None (the key is left out).
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.inputs: dict[str, QWidget] = {}
        self.errors: dict[str, QLabel] = {}
        self._forms: dict[str, QFormLayout] = {}
        self._original: dict[str, object] = {}
        self._shown: dict[str, str] = {}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for group, title in GROUPS:
            box = QGroupBox(title)
            box.setObjectName(f"group-{group}")
            form = QFormLayout(box)
            self._forms[group] = form
            layout.addWidget(box)
        for field in FIELDS:
            widget = self._make_input(field)
            widget.setObjectName(f"field-{field.key}")
            error = plain_label()
            error.setObjectName(f"error-{field.key}")
            error.setStyleSheet(f"color: {state_colour(State.DOWN).name()};")  # 4.5:1 on light and dark
            error.setVisible(False)
            cell = QWidget()
            cell_layout = QVBoxLayout(cell)
            cell_layout.setContentsMargins(0, 0, 0, 0)
            cell_layout.setSpacing(2)
            cell_layout.addWidget(widget)
            cell_layout.addWidget(error)
            self.inputs[field.key] = widget
            self.errors[field.key] = error
            self._forms[field.group].addRow("" if field.shape == "bool" else field.label, cell)
        self.kind_box.currentTextChanged.connect(self._on_kind_changed)

    @property
    def kind_box(self) -> QComboBox:
        box = self.inputs["kind"]
        assert isinstance(box, QComboBox)
        return box

    def line(self, key: str) -> QLineEdit:
        """The line edit of a text or number field (for tests and focus)."""
        widget = self.inputs[key]
        assert isinstance(widget, QLineEdit)
        return widget

    @staticmethod
    def _make_input(field: Field) -> QWidget:
        widget: QWidget
        if field.shape == "kind":
            box = QComboBox()
            box.addItems([k.value for k in Kind])
            widget = box
        elif field.shape == "bool":
            widget = QCheckBox(field.label)
            widget.setToolTip(field.hint)
        elif field.shape in ("lines", "env"):
            edit = QPlainTextEdit()
            edit.setPlaceholderText(field.hint)
            edit.setTabChangesFocus(True)
            edit.setFixedHeight(edit.fontMetrics().lineSpacing() * 3 + 12)
            widget = edit
        else:
            line = SecretLineEdit() if field.key in SECRET_FIELDS else QLineEdit()
            line.setPlaceholderText(field.hint)
            widget = line
        return widget

    def load(self, values: dict[str, object]) -> None:
        """Show ``values`` (a table as written; empty for a new service)."""
        self._original = dict(values)
        kind = values.get("kind")
        inferred = infer_kind(values) if kind is None else None
        shown_kind = str(kind) if kind is not None else (inferred.value if inferred else Kind.HTTP.value)
        for field in FIELDS:
            value = values.get(field.key)
            widget = self.inputs[field.key]
            if isinstance(widget, QComboBox):
                widget.setCurrentText(shown_kind)
            elif isinstance(widget, QCheckBox):
                default = field.key == "tls_verify"
                widget.setChecked(value if isinstance(value, bool) else default)
            elif isinstance(widget, QPlainTextEdit):
                widget.setPlainText(text_of(field, value))
            elif isinstance(widget, SecretLineEdit):
                widget.set_value(text_of(field, value))
            elif isinstance(widget, QLineEdit):
                widget.setText(text_of(field, value))
        self._shown = {f.key: self._display(f.key) for f in FIELDS}
        if not values:
            del self._shown["kind"]  # a new service says its kind
        self.clear_errors()
        self._on_kind_changed(shown_kind)

    def _display(self, key: str) -> str:
        widget = self.inputs[key]
        if isinstance(widget, QComboBox):
            return widget.currentText()
        if isinstance(widget, QCheckBox):
            return "true" if widget.isChecked() else "false"
        if isinstance(widget, QPlainTextEdit):
            return widget.toPlainText()
        if isinstance(widget, SecretLineEdit):
            return widget.value()
        assert isinstance(widget, QLineEdit)
        return widget.text()

    def kind(self) -> Kind:
        return Kind(self.kind_box.currentText())

    def values(self) -> dict[str, object]:
        kind = self.kind()
        values: dict[str, object] = {}
        for field in FIELDS:
            if not field.applies_to(kind):
                values[field.key] = None
            elif self._display(field.key) == self._shown.get(field.key):
                values[field.key] = self._original.get(field.key)
            else:
                values[field.key] = value_of(field, self._display(field.key))
        return values

    def clear_errors(self) -> None:
        for label in self.errors.values():
            label.clear()
            label.setVisible(False)

    def show_error(self, key: str, sentence: str) -> None:
        label = self.errors[key]
        label.setText(sentence)
        label.setVisible(True)
        self.inputs[key].setFocus()

    @Slot(str)
    def _on_kind_changed(self, text: str) -> None:
        kind = Kind(text)
        for field in FIELDS:
            self._forms[field.group].setRowVisible(self.inputs[field.key].parentWidget(), field.applies_to(kind))


class ServicesPage(QWidget):
    """The Services tab: the list, its buttons, and the form of the service being added or edited.

    GUI thread. ``settings`` owns the config in use and saves and applies changes.
    """

    shown = Signal(str)  # a sentence the page showed in its status line (for the window's log)

    NAME, KIND, TARGET, SOURCE = range(4)

    def __init__(self, settings: SettingsController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("services-page")
        self.settings = settings
        self._editing: str | None = None  # the service the form edits (None: a new one)
        self._busy = False
        self._dialog: QFileDialog | None = None
        self._confirm: QMessageBox | None = None
        self._select_after: str | None = None
        self._pending = ""  # what the change in flight is: "save" | "duplicate" | "remove"

        self.table = QTableWidget(0, 4)
        self.table.setObjectName("services-list")
        self.table.setHorizontalHeaderLabels(["Name", "Kind", "Target", "From"])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setTabKeyNavigation(False)  # Tab leaves the list for the buttons (the arrows move in it)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(self.TARGET, QHeaderView.ResizeMode.Stretch)

        self.add_button = Button("&Add…")
        self.edit_button = Button("&Edit…")
        self.duplicate_button = Button("D&uplicate")
        self.remove_button = Button("&Remove…")
        self.project_button = Button("Add &project folder…")
        self.project_button.setToolTip("Watch the services trayapp finds in a project's folder ([[project]])")
        buttons = QHBoxLayout()
        for button in (self.add_button, self.edit_button, self.duplicate_button, self.remove_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.project_button)
        self.status = plain_label()
        self.status.setObjectName("services-status")

        self.form = ServiceForm()
        self.form_title = plain_label()
        font = self.form_title.font()
        font.setBold(True)
        self.form_title.setFont(font)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.form)
        self.test_button = Button("&Test")
        self.test_button.setToolTip("Check this service once, as the form says, without saving")
        self.save_button = Button("&Save")
        self.save_button.setDefault(True)
        self.cancel_button = Button("&Cancel")
        form_buttons = QHBoxLayout()
        form_buttons.addWidget(self.test_button)
        form_buttons.addStretch(1)
        form_buttons.addWidget(self.cancel_button)
        form_buttons.addWidget(self.save_button)
        self.test_result = Note("test-result")
        self.form_error = Note("form-error")
        self.editor = QWidget()
        self.editor.setObjectName("service-editor")
        editor_layout = QVBoxLayout(self.editor)
        editor_layout.setContentsMargins(0, 0, 0, 0)
        editor_layout.addWidget(self.form_title)
        editor_layout.addWidget(scroll, 1)
        editor_layout.addWidget(self.form_error)
        editor_layout.addWidget(self.test_result)
        editor_layout.addLayout(form_buttons)
        self.editor.setVisible(False)

        upper = QWidget()
        upper_layout = QVBoxLayout(upper)
        upper_layout.setContentsMargins(0, 0, 0, 0)
        upper_layout.addWidget(self.table)
        upper_layout.addLayout(buttons)
        upper_layout.addWidget(self.status)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(upper)
        self.splitter.addWidget(self.editor)
        self.splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.addWidget(self.splitter)

        self.add_button.clicked.connect(self.start_add)
        self.edit_button.clicked.connect(self._on_edit)
        self.duplicate_button.clicked.connect(self._on_duplicate)
        self.remove_button.clicked.connect(self._on_remove)
        self.project_button.clicked.connect(self._on_project)
        self.save_button.clicked.connect(self.save)
        self.cancel_button.clicked.connect(self.close_editor)
        self.test_button.clicked.connect(self.test)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.table.doubleClicked.connect(self._on_edit)
        settings.applied.connect(self._on_applied)
        settings.services_edited.connect(self._on_edited)
        settings.project_added.connect(self._on_project_added)
        self.refresh()

    # -- the list -------------------------------------------------------------------------------

    @property
    def config(self) -> Config:
        return self.settings.config

    def refresh(self) -> None:
        """Show the services of the config in use (names and targets are plain text; passwords ***)."""
        current = self.current_name()
        services = self.config.services
        self.table.setRowCount(len(services))
        for row, service in enumerate(services):
            source = {"config": "config file", "default": "built-in default"}.get(service.source, "discovered")
            for column, text in enumerate((service.name, service.kind.value, service.display_target, source)):
                item = QTableWidgetItem(text)
                item.setToolTip(service.source_text if column == self.SOURCE else text)
                self.table.setItem(row, column, item)
        self.select(self._select_after or current)
        self._select_after = None
        self._update_buttons()

    def names(self) -> list[str]:
        return [self.table.item(row, self.NAME).text() for row in range(self.table.rowCount())]

    def target_of(self, name: str) -> str:
        """The Target column of ``name``'s row."""
        return self.table.item(self.names().index(name), self.TARGET).text()

    def current_name(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        return self.table.item(rows[0].row(), self.NAME).text() if rows else None

    def select(self, name: str | None) -> None:
        names = self.names()
        if name in names:
            self.table.selectRow(names.index(name))
        else:
            self.table.clearSelection()

    @Slot()
    def _update_buttons(self) -> None:
        name = self.current_name()
        reason = read_only_reason(self.config, name) if name is not None else None
        for button in (self.edit_button, self.duplicate_button, self.remove_button):
            button.setEnabled(name is not None and reason is None and not self._busy)
        self.add_button.setEnabled(not self._busy)
        if reason is not None:
            self._say(reason)

    def _say(self, sentence: str) -> None:
        self.status.setText(sentence)
        self.shown.emit(sentence)

    @Slot(object)
    def _on_applied(self, _applied: Applied) -> None:
        self.refresh()

    # -- add, edit, duplicate, remove ------------------------------------------------------------

    @Slot()
    def start_add(self) -> None:
        """Open an empty form for a new service."""
        self._editing = None
        self.form.load({})
        self.form_title.setText("A new service")
        self._open_editor()
        self.form.line("name").setFocus()

    def start_edit(self, name: str) -> None:
        """Open the form on ``name``'s table as written (read off the GUI thread)."""
        config = self.config
        task = Task(lambda: (name, service_values(config, name)), self)
        task.done.connect(self._on_values)
        task.failed.connect(self._on_read_failed)
        task.start(self.settings.executors.settings)

    @Slot()
    def _on_edit(self) -> None:
        name = self.current_name()
        if name is not None and read_only_reason(self.config, name) is None:
            self.start_edit(name)

    @Slot(str)
    def _on_read_failed(self, message: str) -> None:
        self._say(f"The config file could not be read: {message}")

    @Slot(object)
    def _on_values(self, loaded: tuple[str, dict[str, object]]) -> None:
        name, values = loaded
        self._editing = name
        self.form.load(values)
        self.form_title.setText(f"Edit {name}")
        self._open_editor()

    def _open_editor(self) -> None:
        self.form_error.clear()
        self.test_result.clear()
        if not self.editor.isVisible():
            self.editor.setVisible(True)
            self._fit_list()

    def _fit_list(self) -> None:
        """Give the form the room the list does not need: the list as tall as its rows (at most half
        the page), so the form being filled in shows more than a field or two. Pixels."""
        total = sum(self.splitter.sizes())
        if total <= 0:  # not laid out yet: the splitter's stretch factors decide
            return
        table, upper = self.table, self.splitter.widget(0)
        rows = table.horizontalHeader().sizeHint().height() + table.verticalHeader().length() + 2 * table.frameWidth()
        below = upper.minimumSizeHint().height() - table.minimumSizeHint().height()  # the buttons and the status line
        wanted = min(max(rows, table.minimumSizeHint().height()) + below, total // 2)
        self.splitter.setSizes([wanted, total - wanted])

    @Slot()
    def close_editor(self) -> None:
        self.editor.setVisible(False)
        self._editing = None

    @Slot()
    def save(self) -> None:
        """Write the form's service (validated first) and apply it live."""
        values = self.form.values()
        editing = self._editing
        self.form.clear_errors()
        self.form_error.clear()

        def change(config: Config, check: Check) -> ServiceEdit:
            if editing is None:
                return add_service(config, values, check=check)
            return replace_service(config, editing, values, check=check)

        self._run(change, "Saving…", "save")

    @Slot()
    def _on_duplicate(self) -> None:
        name = self.current_name()
        if name is not None:
            change = partial(_duplicate, name=name)
            self._run(change, f"Copying {name}…", "duplicate")

    @Slot()
    def _on_remove(self) -> None:
        name = self.current_name()
        if name is None:
            return
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Remove service",
            f"Remove {name} from {self._file_name()}? trayapp stops checking it.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            self,
        )
        box.setObjectName("confirm-remove")
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.button(QMessageBox.StandardButton.Yes).setText("Remove")
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.finished.connect(lambda result: self._on_remove_confirmed(name, result))
        self._confirm = box
        box.open()  # not exec(): the app goes on while the user decides

    def _on_remove_confirmed(self, name: str, result: int) -> None:
        self._confirm = None
        if result == QMessageBox.StandardButton.Yes:
            if self._editing == name:
                self.close_editor()
            self._run(partial(_remove, name=name), f"Removing {name}…", "remove")

    def _file_name(self) -> str:
        config = self.config
        return str(config.path or config.save_path or "the config file")

    def _run(self, change: Callable[[Config, Check], ServiceEdit], note: str, what: str) -> None:
        self._busy = True
        self._pending = what
        self.save_button.setEnabled(False)
        self._update_buttons()
        self._say(note)
        self.settings.edit_services(change)

    @Slot(object)
    def _on_edited(self, outcome: ServicesEdited) -> None:
        what, self._pending = self._pending, ""
        self._busy = False
        self.save_button.setEnabled(True)
        error = outcome.error
        if error is None and outcome.applied is not None:
            if what == "save":
                self.close_editor()
            self._select_after = outcome.name
            self.refresh()
            self._say(outcome.what)
            return
        self._update_buttons()
        verb = {"save": "Not saved", "duplicate": "Not copied", "remove": "Not removed"}.get(what, "Not changed")
        if error is None:
            self._say(outcome.what)
            return
        others = {s.name for s in self.config.services} - {self._editing}
        own = error.field == "name" or error.service not in others  # not a mistake of another service's
        if what == "save" and own and error.field in self.form.inputs:
            self.form.show_error(error.field, error.message)
            self._say(f"{verb}: {error.message}")
            return
        if what == "save":
            self.form_error.setText(f"{verb}: {error}")
        self._say(f"{verb}: {error}")

    # -- Test --------------------------------------------------------------------------------------

    @Slot()
    def test(self) -> None:
        """Check the form's service once, off the GUI thread; show its headline and sentence."""
        values = self.form.values()
        editing, config = self._editing, self.config
        self.form.clear_errors()
        self.form_error.clear()
        name = str(values.get("name") or "this service")
        self.test_result.setText(f"Testing {name}…")
        self.test_button.setEnabled(False)
        task = Task(lambda: _test(config, values, editing), self)
        task.done.connect(self._on_tested)
        task.failed.connect(self._on_test_failed)
        task.start(self.settings.executors.lookups)

    @Slot(object)
    def _on_tested(self, outcome: CheckResult | ConfigError) -> None:
        self.test_button.setEnabled(True)
        if isinstance(outcome, ConfigError):
            self.test_result.setText(f"Not tested: {outcome.message}")
            if outcome.field in self.form.inputs:
                self.form.show_error(outcome.field, outcome.message)
            return
        self.test_result.setText(f"{outcome.state}: {outcome.headline}\n{outcome.detail}")

    @Slot(str)
    def _on_test_failed(self, message: str) -> None:
        self.test_button.setEnabled(True)
        self.test_result.setText(f"The test itself failed: {message}")

    # -- Add project folder… -------------------------------------------------------------------

    @Slot()
    def _on_project(self) -> None:
        dialog = QFileDialog(self, "Choose a project's folder")
        dialog.setObjectName("choose-project")
        dialog.setFileMode(QFileDialog.FileMode.Directory)
        dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)
        dialog.fileSelected.connect(self.add_project)
        self._dialog = dialog
        dialog.open()

    @Slot(str)
    def add_project(self, folder: str) -> None:
        self._say(f"Adding {folder}…")
        self.settings.add_project(folder)

    @Slot(object)
    def _on_project_added(self, outcome: Applied | str) -> None:
        if isinstance(outcome, str):
            self._say(outcome)
        else:
            self._say(f"Watching {len(outcome.config.services)} services from {outcome.config.source}.")


def _duplicate(config: Config, check: Check, *, name: str) -> ServiceEdit:
    return duplicate_service(config, name, check=check)


def _remove(config: Config, check: Check, *, name: str) -> ServiceEdit:
    return remove_service(config, name, check=check)


def _test(config: Config, values: dict[str, object], editing: str | None) -> CheckResult | ConfigError:
    """One check of the service ``values`` make (worker thread): validated as if saved, then
    checked once, bounded by its timeout (:func:`check_once`)."""
    try:
        service = preview_service(config, values, editing)
    except ConfigError as error:
        return error
    return check_once([service])[0]
