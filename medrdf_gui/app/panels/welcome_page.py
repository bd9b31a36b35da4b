"""What the window shows before any image is open: an Open prompt, the recent files and the model status."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget

from ..resources import icon


class WelcomePage(QWidget):
    openFileRequested = Signal()
    openFolderRequested = Signal()
    recentFileRequested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        title = QLabel("MedRDF Viewer")
        title.setObjectName("welcomeTitle")
        subtitle = QLabel("Open a chest radiograph (DICOM, PNG, JPEG, TIFF) or a folder of studies.\n"
                          "You can also drop files here.")
        subtitle.setObjectName("welcomeHint")
        subtitle.setAlignment(Qt.AlignmentFlag.AlignCenter)

        open_file = QPushButton(icon("open"), "  Open image…")
        open_file.setObjectName("primaryButton")
        open_file.setIconSize(QSize(20, 20))
        open_file.clicked.connect(self.openFileRequested)
        open_folder = QPushButton(icon("open-folder"), "  Open folder…")
        open_folder.setIconSize(QSize(20, 20))
        open_folder.clicked.connect(self.openFolderRequested)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(open_file)
        buttons.addWidget(open_folder)
        buttons.addStretch(1)

        recent_title = QLabel("RECENT FILES")
        recent_title.setObjectName("sectionCaption")
        self.recent_list = QListWidget()
        self.recent_list.setObjectName("recentList")
        self.recent_list.setMaximumWidth(640)
        self.recent_list.setMinimumHeight(120)
        self.recent_list.itemActivated.connect(self._on_item)
        self._no_recent = QLabel("No recent files yet.")
        self._no_recent.setObjectName("welcomeHint")

        self.model_status = QLabel()
        self.model_status.setObjectName("welcomeHint")
        self.model_status.setWordWrap(True)
        self.model_status.setMinimumWidth(520)
        self.model_status.setAlignment(Qt.AlignmentFlag.AlignCenter)

        column = QVBoxLayout()
        column.addStretch(2)
        column.addWidget(title, 0, Qt.AlignmentFlag.AlignHCenter)
        column.addWidget(subtitle, 0, Qt.AlignmentFlag.AlignHCenter)
        column.addSpacing(18)
        column.addLayout(buttons)
        column.addSpacing(26)
        column.addWidget(recent_title, 0, Qt.AlignmentFlag.AlignHCenter)
        column.addWidget(self.recent_list, 0, Qt.AlignmentFlag.AlignHCenter)
        column.addWidget(self._no_recent, 0, Qt.AlignmentFlag.AlignHCenter)
        column.addSpacing(12)
        column.addWidget(self.model_status, 0, Qt.AlignmentFlag.AlignHCenter)
        column.addStretch(3)
        layout = QHBoxLayout(self)
        layout.addStretch(1)
        layout.addLayout(column, 4)
        layout.addStretch(1)

    def set_recent_files(self, files: list[str]) -> None:
        self.recent_list.clear()
        for text in files:
            path = Path(text)
            if not path.exists():
                continue
            item = QListWidgetItem(icon("recent"), f"{path.name}    —    {path.parent}")
            item.setData(Qt.ItemDataRole.UserRole, text)
            item.setToolTip(text)
            self.recent_list.addItem(item)
        has_items = self.recent_list.count() > 0
        self.recent_list.setVisible(has_items)
        self._no_recent.setVisible(not has_items)
        self.recent_list.setFixedHeight(min(8, max(3, self.recent_list.count())) * 28 + 6)

    def set_model_status(self, text: str) -> None:
        self.model_status.setText(text)

    def recent_paths(self) -> list[str]:
        return [self.recent_list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.recent_list.count())]

    def _on_item(self, item: QListWidgetItem) -> None:
        self.recentFileRequested.emit(item.data(Qt.ItemDataRole.UserRole))
