"""The AI Correct controls in the Annotate dock: the tool button, keep hand-painted, Accept / Clear, status."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QPushButton, QToolButton, QVBoxLayout, QWidget

HINT = ("Left click: the chosen class is here · right click or Alt+click: background · "
        "drag: scribble · Enter accepts, Esc clears the clicks, Ctrl+Z undoes a step")


class AiCorrectWidget(QWidget):
    """What the user sees of AI correction besides the markers; the controller fills it in."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("AiCorrectWidget")
        # Joins the Annotate dock's tool row (AnnotationPanel.add_tool_button).
        self.tool_button = QToolButton()
        self.tool_button.setText("AI correct (A)")
        self.tool_button.setToolTip(
            "Click where the labels are wrong: the AI model corrects the region around the click, in 3-D"
        )
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.keep_hand_painted = QCheckBox("AI keeps hand-painted voxels")
        self.keep_hand_painted.setChecked(True)
        self.keep_hand_painted.setToolTip(
            "Voxels you changed with the brush, fill or region tool stay as painted unless you click on them"
        )
        layout.addWidget(self.keep_hand_painted)
        buttons = QHBoxLayout()
        self.accept_button = QPushButton("Accept (Enter)")
        self.accept_button.setToolTip("Keep the corrected labels and start a new set of clicks")
        self.clear_button = QPushButton("Clear clicks (Esc)")
        self.clear_button.setToolTip("Forget the clicks (the labels stay; Ctrl+Z undoes AI steps)")
        buttons.addWidget(self.accept_button)
        buttons.addWidget(self.clear_button)
        layout.addLayout(buttons)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(self.status)
        self.hint = QLabel(HINT)
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("color: gray;")
        layout.addWidget(self.hint)
