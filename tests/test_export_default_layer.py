"""Ctrl+E offers the layer just produced or edited first, and names the file by what it holds."""

from __future__ import annotations

from PySide6.QtCore import Qt

from tests.annotation_support import annot_window, stroke  # noqa: F401


def _ctrl_e(qtbot, window) -> None:
    window.axial_view.setFocus()
    qtbot.keyClick(window.axial_view, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)


def _chooser(dialogs, answer_first: bool = True):
    offered: list[list[str]] = []

    def choose(parent, title, label, items):
        offered.append(list(items))
        return items[0] if answer_first else None

    dialogs.choose = choose
    return offered


def test_an_unedited_ground_truth_is_not_suggested_as_corrected(qtbot, annot_window):
    window, _, dialogs = annot_window
    assert [layer.name for layer in window.state.layers] == ["Ground truth"]
    _ctrl_e(qtbot, window)
    kind, suggested = dialogs.asked[-1]
    assert kind == "save_path"
    assert suggested.endswith("BraTS20_Training_999_ground-truth.nii.gz"), suggested


def test_the_layer_just_painted_is_offered_first(qtbot, annot_window):
    window, controller, dialogs = annot_window
    offered = _chooser(dialogs)
    controller.new_layer_action.trigger()
    controller.editor.set_label(2)
    stroke(qtbot, window.axial_view, [(10, 10, 13), (20, 15, 13)])
    _ctrl_e(qtbot, window)
    assert offered[-1] == ["Annotation", "Ground truth"]
    assert dialogs.asked[-1][1].endswith("BraTS20_Training_999_annotation.nii.gz")

    # Now the ground truth is edited: it comes first, and its name says it was corrected.
    controller.editor.set_layer(window.state.layer("Ground truth"))
    stroke(qtbot, window.axial_view, [(12, 12, 13)])
    _ctrl_e(qtbot, window)
    assert offered[-1] == ["Ground truth", "Annotation"]
    assert dialogs.asked[-1][1].endswith("BraTS20_Training_999_corrected.nii.gz")
