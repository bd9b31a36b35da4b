"""File ▸ Open from PACS…: choose a server, find a study, retrieve it into the cache and open it.

Patient names are shown here — it is how a radiologist chooses a study — and nowhere else: not in a log, not in
a file or folder name (the cache names folders by hashes), not in the window title (that shows the cached
file's hashed name). Every network step runs on a :class:`PacsTaskRunner` thread with progress and cancel;
each failure is one sentence in the dialog's status line, and the dialog stays usable.

The server list is the PACS settings file shared with ``medrdf pacs`` (``pacs/servers.py``): what IT deploys
there appears here, and servers saved here are usable by name on the command line.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QDialog, QFormLayout, QGridLayout, QGroupBox,
                               QHBoxLayout, QHeaderView, QLabel, QLineEdit, QProgressBar, QPushButton, QSpinBox,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from ...pacs import (PacsConfig, PacsError, SeriesStore, Server, StudyMatch, StudyQuery, default_cache_root, echo,
                     find_studies, load_config, retrieve_study, save_config)
from ...pacs.servers import check_ae_title
from .pacs_worker import PacsTaskRunner

COLUMNS = ("Patient name", "Patient ID", "Birth date", "Study date", "Modalities", "Description", "Accession",
           "Images")
NEW_SERVER = "New server…"


def dicom_date(text: str) -> str:
    return f"{text[:4]}-{text[4:6]}-{text[6:8]}" if len(text) == 8 and text.isdigit() else text


def person_name(text: str) -> str:
    """``DOE^JANE`` → ``DOE, JANE`` (display only)."""
    parts = [p for p in text.split("^") if p]
    return ", ".join(parts[:2]) + (" " + " ".join(parts[2:]) if len(parts) > 2 else "") if parts else ""


class OpenFromPacsDialog(QDialog):
    """Emits ``studyRetrieved(folder)`` with the retrieved study's folder, then closes."""

    studyRetrieved = Signal(str)

    def __init__(self, parent: QWidget | None = None, config_path: str | Path | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Open from PACS")
        self.setMinimumSize(940, 600)
        self.config_path = config_path
        self.runner = PacsTaskRunner(self)
        self.runner.progress.connect(self._on_progress)
        self.runner.failed.connect(self._on_failed)
        self.runner.cancelled.connect(lambda: self._status("Cancelled; nothing was kept.", "info"))
        self.runner.runningChanged.connect(self._running_changed)
        self._on_done = None
        self.runner.finished.connect(self._on_finished)
        self.matches: list[StudyMatch] = []
        self.retrieved: str | None = None
        try:
            self.config = load_config(config_path)
            problem = ""
        except PacsError as exc:
            self.config, problem = PacsConfig(), str(exc)
        self._build()
        self._fill_servers()
        if problem:
            self._status(problem, "error")
        self._update_buttons()

    # Construction -----------------------------------------------------------------------------------------------

    def _build(self) -> None:
        servers = QGroupBox("Server")
        grid = QGridLayout(servers)
        self.server_box = QComboBox()
        self.server_box.currentIndexChanged.connect(self._server_chosen)
        self.name_edit, self.aet_edit, self.host_edit = QLineEdit(), QLineEdit(), QLineEdit()
        self.name_edit.setPlaceholderText("a name for this server")
        self.aet_edit.setPlaceholderText("called AE title, e.g. PACS1")
        self.host_edit.setPlaceholderText("host name or address")
        self.port_box = QSpinBox()
        self.port_box.setRange(1, 65535)
        self.port_box.setValue(104)
        self.calling_edit = QLineEdit(self.config.calling_aet)
        self.calling_edit.setToolTip("This workstation's own AE title: the PACS must know it (docs/pacs.md)")
        self.test_button = QPushButton("Test connection")
        self.test_button.clicked.connect(self.test_connection)
        self.save_button = QPushButton("Save server")
        self.save_button.clicked.connect(self.save_server)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self.remove_server)
        grid.addWidget(QLabel("Server"), 0, 0)
        grid.addWidget(self.server_box, 0, 1)
        grid.addWidget(QLabel("Name"), 0, 2)
        grid.addWidget(self.name_edit, 0, 3)
        grid.addWidget(QLabel("Called AE title"), 1, 0)
        grid.addWidget(self.aet_edit, 1, 1)
        grid.addWidget(QLabel("Host"), 1, 2)
        grid.addWidget(self.host_edit, 1, 3)
        grid.addWidget(QLabel("Port"), 1, 4)
        grid.addWidget(self.port_box, 1, 5)
        grid.addWidget(QLabel("Calling AE title (this app)"), 2, 0)
        grid.addWidget(self.calling_edit, 2, 1)
        buttons = QHBoxLayout()
        for b in (self.test_button, self.save_button, self.remove_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        grid.addLayout(buttons, 2, 2, 1, 4)

        query = QGroupBox("Find studies")
        form = QGridLayout(query)
        self.patient_id_edit, self.patient_name_edit = QLineEdit(), QLineEdit()
        self.patient_name_edit.setPlaceholderText("wildcards * and ?, e.g. DOE^J*")
        self.date_from_edit, self.date_to_edit = QLineEdit(), QLineEdit()
        for edit in (self.date_from_edit, self.date_to_edit):
            edit.setPlaceholderText("YYYY-MM-DD")
        self.modality_edit, self.accession_edit = QLineEdit(), QLineEdit()
        self.modality_edit.setPlaceholderText("e.g. CR, DX")
        self.search_button = QPushButton("Search")
        self.search_button.setDefault(True)
        self.search_button.clicked.connect(self.search)
        fields = (("Patient ID", self.patient_id_edit), ("Patient name", self.patient_name_edit),
                  ("Accession", self.accession_edit), ("Study date from", self.date_from_edit),
                  ("to", self.date_to_edit), ("Modality", self.modality_edit))
        for i, (label, edit) in enumerate(fields):
            form.addWidget(QLabel(label), i // 3, 2 * (i % 3))
            form.addWidget(edit, i // 3, 2 * (i % 3) + 1)
            edit.returnPressed.connect(self.search)
        form.addWidget(self.search_button, 0, 6, 2, 1)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.table.doubleClicked.connect(lambda _: self.retrieve())

        self.status_label = QLabel("Choose a server and search.")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.progress_bar = QProgressBar()
        self.progress_bar.setVisible(False)
        self.retrieve_button = QPushButton("Retrieve and open")
        self.retrieve_button.clicked.connect(self.retrieve)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.runner.cancel)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.reject)
        bottom = QHBoxLayout()
        bottom.addWidget(self.progress_bar, 1)
        bottom.addWidget(self.retrieve_button)
        bottom.addWidget(self.cancel_button)
        bottom.addWidget(self.close_button)

        layout = QVBoxLayout(self)
        layout.addWidget(servers)
        layout.addWidget(query)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status_label)
        layout.addLayout(bottom)

    # Servers ----------------------------------------------------------------------------------------------------

    def _fill_servers(self, select: str | None = None) -> None:
        self.server_box.blockSignals(True)
        self.server_box.clear()
        for server in self.config.servers:
            self.server_box.addItem(server.name, server.name)
        self.server_box.addItem(NEW_SERVER, "")
        index = self.server_box.findData(select) if select else 0
        self.server_box.setCurrentIndex(max(0, index))
        self.server_box.blockSignals(False)
        self._server_chosen()

    @Slot()
    def _server_chosen(self) -> None:
        name = self.server_box.currentData()
        server = next((s for s in self.config.servers if s.name == name), None)
        self.name_edit.setText(server.name if server else "")
        self.aet_edit.setText(server.ae_title if server else "")
        self.host_edit.setText(server.host if server else "")
        self.port_box.setValue(server.port if server else 104)
        self._update_buttons()

    def server(self) -> Server:
        """The server the fields describe; PacsError when they are incomplete or invalid."""
        if not self.aet_edit.text().strip() or not self.host_edit.text().strip():
            raise PacsError("Enter the server's AE title and host first.", "invalid")
        return Server(self.aet_edit.text(), self.host_edit.text(), self.port_box.value(),
                      name=self.name_edit.text().strip())

    def calling_aet(self) -> str:
        return check_ae_title(self.calling_edit.text() or "MEDRDF", "calling AE title")

    def set_server(self, server: Server, calling_aet: str | None = None) -> None:
        """Fill the fields (tests, and a server given on the command line)."""
        self.server_box.setCurrentIndex(self.server_box.findData(""))
        self.name_edit.setText(server.name)
        self.aet_edit.setText(server.ae_title)
        self.host_edit.setText(server.host)
        self.port_box.setValue(server.port)
        if calling_aet:
            self.calling_edit.setText(calling_aet)

    @Slot()
    def save_server(self) -> bool:
        try:
            server = self.server()
            if not server.name:
                raise PacsError("Give the server a name to save it.", "invalid")
            config = replace(self.config.with_server(server), calling_aet=self.calling_aet())
            path = save_config(config, self.config_path)
        except PacsError as exc:
            self._status(str(exc), "error")
            return False
        self.config = config
        self._fill_servers(server.name)
        self._status(f"Saved {server} in {path}.", "info")
        return True

    @Slot()
    def remove_server(self) -> None:
        name = self.server_box.currentData()
        if not name:
            return
        config = self.config.without_server(name)
        try:
            save_config(config, self.config_path)
        except PacsError as exc:
            self._status(str(exc), "error")
            return
        self.config = config
        self._fill_servers()
        self._status(f"Removed the server {name}.", "info")

    # Tasks ------------------------------------------------------------------------------------------------------

    def _start(self, task, done, text: str) -> bool:
        self._on_done = done
        self._status(text, "info")
        self.progress_bar.setRange(0, 0)
        self.progress_bar.setVisible(True)
        return self.runner.start(task)

    def _inputs(self) -> tuple[Server, str] | None:
        try:
            return self.server(), self.calling_aet()
        except PacsError as exc:
            self._status(str(exc), "error")
            return None

    @Slot()
    def test_connection(self) -> bool:
        inputs = self._inputs()
        if inputs is None or self.runner.is_running:
            return False
        server, calling = inputs
        timeout = self.config.timeout_s
        return self._start(lambda progress, token: echo(server, calling, timeout=timeout, cancel=token),
                           lambda seconds: self._status(f"{server.address} answered the DICOM echo in "
                                                        f"{1000 * seconds:.0f} ms.", "ok"),
                           f"Testing the connection to {server.address}…")

    def query(self) -> StudyQuery:
        return StudyQuery(patient_id=self.patient_id_edit.text(), patient_name=self.patient_name_edit.text(),
                          date_from=self.date_from_edit.text(), date_to=self.date_to_edit.text(),
                          modality=self.modality_edit.text(), accession_number=self.accession_edit.text())

    @Slot()
    def search(self) -> bool:
        inputs = self._inputs()
        if inputs is None or self.runner.is_running:
            return False
        server, calling = inputs
        try:
            query = self.query().validated()
        except PacsError as exc:
            self._status(str(exc), "error")
            return False
        timeout = self.config.timeout_s
        return self._start(lambda progress, token: find_studies(server, calling, query, timeout=timeout,
                                                                cancel=token),
                           self._show_matches, f"Searching {server.address}…")

    def _show_matches(self, found) -> None:
        self.matches = list(found.matches)
        self.table.setRowCount(len(self.matches))
        for row, m in enumerate(self.matches):
            values = (person_name(m.patient_name), m.patient_id, dicom_date(m.birth_date), dicom_date(m.study_date),
                      ", ".join(m.modalities), m.description, m.accession_number,
                      "" if m.instance_count is None else str(m.instance_count))
            for col, value in enumerate(values):
                item = QTableWidgetItem(value)
                if col == len(values) - 1:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, col, item)
        if self.matches:
            self.table.selectRow(0)
        more = " (more match: narrow the search)" if found.truncated else ""
        n = len(self.matches)
        self._status(f"{n} stud{'y' if n == 1 else 'ies'} found{more}." if n else "No study matches.", "ok" if n else "info")

    def selected(self) -> StudyMatch | None:
        rows = self.table.selectionModel().selectedRows()
        return self.matches[rows[0].row()] if rows and rows[0].row() < len(self.matches) else None

    @Slot()
    def retrieve(self) -> bool:
        match = self.selected()
        inputs = self._inputs()
        if match is None or inputs is None or self.runner.is_running:
            return False
        server, calling = inputs
        store = SeriesStore(default_cache_root(self.config.cache_dir), self.config.cache_limit_mb << 20)
        timeout = self.config.timeout_s

        def task(progress, token):
            def report(series: int, series_total: int, done: int, total: int) -> None:
                progress(done, total, f"Series {series + 1} of {series_total}: {done} of {total} image(s)")

            return retrieve_study(server, calling, match.study_uid, store, timeout=timeout, progress=report,
                                  cancel=token)

        return self._start(task, self._opened, f"Retrieving the study from {server.address}…")

    def _opened(self, retrieved) -> None:
        folders = {r.folder.parent for r in retrieved}
        folder = str(next(iter(folders))) if len(folders) == 1 else str(retrieved[0].folder)
        images = sum(r.count for r in retrieved)
        self.retrieved = folder
        self._status(f"Retrieved {images} image(s) in {len(retrieved)} series.", "ok")
        self.studyRetrieved.emit(folder)
        self.accept()

    # Signals ----------------------------------------------------------------------------------------------------

    @Slot(int, int, str)
    def _on_progress(self, done: int, total: int, text: str) -> None:
        self.progress_bar.setRange(0, max(total, 1))
        self.progress_bar.setValue(done)
        if text:
            self.status_label.setText(text)

    @Slot(object)
    def _on_finished(self, payload: object) -> None:
        self.progress_bar.setVisible(False)
        done, self._on_done = self._on_done, None
        if done is not None:
            done(payload)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.progress_bar.setVisible(False)
        self._status(message, "error")

    def _status(self, text: str, kind: str) -> None:
        self.status_label.setText(text)
        self.status_label.setProperty("kind", kind)
        colour = {"error": "#b3261e", "ok": "#1b6e20"}.get(kind, "")
        self.status_label.setStyleSheet(f"color: {colour};" if colour else "")
        if kind != "info":
            self.progress_bar.setVisible(False)

    @Slot(bool)
    def _running_changed(self, running: bool) -> None:
        if not running:
            self.progress_bar.setVisible(False)
        self._update_buttons()

    def _update_buttons(self) -> None:
        busy = self.runner.is_running
        for b in (self.test_button, self.search_button, self.save_button):
            b.setEnabled(not busy)
        self.remove_button.setEnabled(not busy and bool(self.server_box.currentData()))
        self.retrieve_button.setEnabled(not busy and self.selected() is not None)
        self.cancel_button.setEnabled(busy)

    def done(self, result: int) -> None:  # noqa: D401 - Qt API: closing joins the worker thread first
        self.runner.shutdown()
        super().done(result)
