"""The meaning of label 1 follows the patient's files, not a global switch.

Core: :func:`brats_desktop.core.label_meaning.ncr_definition_for` on names and label
values. GUI: the Segment menu's meaning follows each opened patient, the Metrics dock
says why and warns (one line) when prediction and ground truth differ, the legend and
Model Information say the same thing as the menu.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PySide6.QtWidgets import QApplication

from brats_desktop.core.label_meaning import label1_name, ncr_definition_evidence, ncr_definition_for, year_in_name
from brats_desktop.core.patient import load_patient
from inference_support import close_window, open_window, tiny_model, write_patient_folder

torch.set_num_threads(1)
SHAPE = (40, 36, 24)


def _named_folder(root: Path, names: list[str]) -> Path:
    """A folder of empty files: discovery decides by name only."""
    root.mkdir(parents=True)
    for name in names:
        (root / name).write_bytes(b"")
    return root


@pytest.mark.parametrize(
    "names, expected",
    [
        (["BraTS20_Training_001_flair.nii.gz", "BraTS20_Training_001_seg.nii.gz"], "brats2013"),
        (["Brats18_CBICA_ABM_1_flair.nii.gz", "Brats18_CBICA_ABM_1_seg.nii.gz"], "brats2013"),
        (["BraTS13_pat0006_flair.nii.gz", "BraTS13_pat0006_seg.nii.gz"], "brats2013"),
        (["BraTS20_Training_355_flair.nii", "W39_1998.09.19_Segm.nii"], "brats2013"),
        (["BraTS2021_00000_flair.nii.gz", "BraTS2021_00000_seg.nii.gz"], "brats2021"),
        (["BraTS-GLI-00001-000-t2f.nii.gz", "BraTS-GLI-00001-000-t1c.nii.gz"], "brats2021"),
        (["t1n.nii.gz", "t2f.nii.gz", "seg.nii.gz"], "brats2021"),
        (["flair.nii.gz", "t1ce.nii.gz", "seg.nii.gz"], None),
        (["case_flair.nii.gz"], None),
    ],
)
def test_names_tell_the_meaning_of_label_1(tmp_path, names, expected):
    folder = _named_folder(tmp_path / "p", names)
    assert ncr_definition_for(folder) == expected
    evidence = ncr_definition_evidence(folder)
    if expected is not None:
        assert evidence is not None and any(n in evidence[1] for n in names)  # the reason names a file


def test_label_values_tell_when_names_do_not(tmp_path):
    with_3, _, _ = write_patient_folder(tmp_path, "a", naming="2020", modalities=("flair",))
    # Bare names with enhancing = 3: only the BraTS 2023 (2021+ protocol) convention writes that.
    (with_3 / "a_flair.nii.gz").rename(with_3 / "flair.nii.gz")
    seg = with_3 / "a_seg.nii.gz"
    import nibabel as nib

    img = nib.load(str(seg))
    data = np.asarray(img.dataobj).copy()
    data[data == 4] = 3
    nib.save(nib.Nifti1Image(data, img.affine), str(with_3 / "seg.nii.gz"))
    seg.unlink()
    patient = load_patient(with_3)
    assert patient.convention.value == "brats2023"
    assert ncr_definition_for(patient) == "brats2021"
    assert ncr_definition_for(patient.files) is None  # names alone do not tell

    with_4, _, _ = write_patient_folder(tmp_path, "b", naming="2020", modalities=("flair",))
    assert ncr_definition_for(load_patient(with_4)) is None  # 0/1/2/4 was used by 2017-2021 alike


def test_year_parsing_and_legend_names():
    assert year_in_name("BraTS20_Training_001_seg") == 2020
    assert year_in_name("BraTS2021_00001_seg") == 2021
    assert year_in_name("brats_2019_x") == 2019
    assert year_in_name("BraTS-GLI-00001-000-seg") is None and year_in_name("patient_seg") is None
    assert label1_name("brats2021") == "Necrotic core"
    assert "non-enhancing" in label1_name("brats2013")


def test_real_folders(shared_data):
    assert ncr_definition_for(shared_data / "brainles-sample-case") == "brats2021"
    assert ncr_definition_for(shared_data / "BraTS-GLI-00001-000") == "brats2021"
    assert ncr_definition_for(shared_data / "brats2018-train" / "Brats18_CBICA_ABM_1") == "brats2013"
    assert ncr_definition_for(shared_data / "brats2013-train" / "BraTS13_pat0006") == "brats2013"


# --------------------------------------------------------------------------- GUI


def _ring_predict(model, images, **kwargs):
    """Fixed argmax: enhancing ring around necrosis, a non-enhancing block beside it, edema around."""
    shape = next(iter(images.values())).shape
    labels = np.zeros(shape, np.uint8)
    x, y = np.mgrid[: shape[0], : shape[1]]
    r = np.hypot(x - 18, y - 18)
    for z in range(8, 16):
        sl = labels[:, :, z]
        sl[r < 11] = 2
        sl[28:32, 14:22] = 1
        sl[(r >= 4) & (r < 6.5)] = 3
        sl[r < 4] = 1
    return labels


BLOCK = (slice(28, 32), slice(14, 22), slice(8, 16))  # non-enhancing tumour: 1 in the old meaning, 2 in the new


@pytest.fixture
def window(qtbot, tmp_path):
    win, settings = open_window(qtbot, tmp_path)
    win.segment.predict = _ring_predict
    win.show()
    qtbot.waitExposed(win)
    yield win, settings
    close_window(win)


def _run(qtbot, win):
    with qtbot.waitSignal(win.segment.prediction_applied, timeout=60_000):
        win.segment.run_action.trigger()
    return win.state.layer("Prediction")


def test_meaning_follows_each_patient_and_a_remembered_choice_fills_in(qtbot, window, tmp_path):
    win, settings = window
    seg = win.segment
    old_folder, _, _ = write_patient_folder(tmp_path, "BraTS20_Training_002", naming="2020")
    win.show_patient(load_patient(old_folder))
    assert seg.ncr_actions["brats2013"].isChecked()  # BraTS 2020 names: NCR/NET
    assert win.info_panel.legend[1].text() == "NCR: Necrotic / non-enhancing core"
    seg.ncr_actions["brats2021"].trigger()  # the user chooses the new meaning here...
    seg.ncr_actions["brats2013"].trigger()  # ...and back: the remembered choice is now 2013
    assert settings.value("inference/ncr_definition") == "brats2013"

    new_folder, _, _ = write_patient_folder(tmp_path, "BraTS-GLI-00002-000", naming="2023")
    win.show_patient(load_patient(new_folder))
    assert seg.ncr_actions["brats2021"].isChecked()  # the 2023 folder decides, not the last choice
    layer = _run(qtbot, win)
    assert (layer.data[BLOCK] == 2).all()  # non-enhancing tumour is edema in the 2021+ meaning
    note = seg.metrics_panel.label_meaning
    assert not note.isHidden() and "inside the enhancing rim" in note.text()
    assert "BraTS-GLI-00002-000" in note.text() and "imply" in note.text()
    assert seg.metrics_panel.meaning_warning.isHidden()
    assert win.info_panel.legend[1].text() == "NCR: Necrotic core"
    assert "BraTS 2021+" in seg.ncr_source_action.text()

    plain, _, _ = write_patient_folder(tmp_path, "case", naming="2020")  # case_seg with 4: nothing tells
    win.show_patient(load_patient(plain))
    assert seg.ncr_actions["brats2013"].isChecked()  # the remembered choice applies here only
    assert "do not tell" in seg.metrics_panel.label_meaning.text()


def test_a_prediction_meaning_other_than_the_ground_truths_is_warned_in_one_line(qtbot, window, tmp_path):
    win, _ = window
    seg = win.segment
    folder, _, _ = write_patient_folder(tmp_path, "BraTS-GLI-00003-000", naming="2023")
    win.show_patient(load_patient(folder))
    _run(qtbot, win)
    warning = seg.metrics_panel.meaning_warning
    assert warning.isHidden()

    seg.ncr_actions["brats2013"].trigger()  # overrides what the folder implies, for this patient
    assert (win.state.layer("Prediction").data[BLOCK] == 1).all()
    assert not warning.isHidden()
    assert "not comparable" in warning.text() and "\n" not in warning.text()
    assert "your choice" in seg.metrics_panel.label_meaning.text()
    assert win.info_panel.legend[1].text() == "NCR: Necrotic / non-enhancing core"

    seg.ncr_actions["brats2021"].trigger()
    assert warning.isHidden()


def test_model_information_names_label_1_as_its_training_data_means(qtbot, window, tmp_path):
    win, _ = window
    seg = win.segment
    model = tiny_model(tmp_path / "m")
    from models.checkpoint import load_model, save_model
    from models.unet import build_network

    # What brats-train writes for a model trained on synthetic data: "1: NCR/NET" and ncr_definition 2021.
    meta = dict(model.metadata, classes={0: "background", 1: "NCR/NET", 2: "edema", 3: "enhancing"},
                label_convention="internal 0-3 (0 background, 1 NCR/NET, 2 edema, 3 enhancing)",
                ncr_definition="brats2021")
    network = build_network(meta["architecture"])
    path = save_model(tmp_path / "m" / "new-meaning.pt", network, meta)
    win.dialogs.open_files.append(load_model(path).path)
    seg.load_model_action.trigger()
    html = seg.info_dialog.browser.toPlainText()
    table = html.split("All metadata")[0]
    assert "BraTS 2021+" in table and "NCR/NET" not in table
    assert "1: NCR" in table
    seg.info_dialog.close()


# --------------------------------------------------------------------------- items 13 and 15


def _file_menu_action(win, text: str):
    menu = win.menu("File")
    for action in menu.actions():
        if action.text().replace("&", "").startswith(text):
            return action
    raise AssertionError(f"no File menu entry {text!r}: {[a.text() for a in menu.actions()]}")


def test_back_to_the_bundled_model_and_recent_models(qtbot, window, tmp_path):
    win, settings = window
    seg = win.segment
    bundled_name = seg.model.name
    assert not _file_menu_action(win, "Use Bundled Model").isEnabled()
    mine = tiny_model(tmp_path / "mine")
    win.dialogs.open_files.append(mine.path)
    _file_menu_action(win, "Load Model").trigger()
    seg.info_dialog.close()
    assert seg.model.path == mine.path

    back = _file_menu_action(win, "Use Bundled Model")
    assert back.isEnabled()
    back.trigger()
    assert seg.user_model is None and seg.model.name == bundled_name
    assert "bundled" in win.statusBar().currentMessage()

    recent = _file_menu_action(win, "Recent Models").menu()
    recent.aboutToShow.emit()
    entries = [a for a in recent.actions() if a.data()]
    assert [Path(a.data()) for a in entries] == [mine.path.resolve()]
    entries[0].trigger()  # no file dialog this time
    seg.info_dialog.close()
    assert seg.model.path == mine.path


def test_a_run_dropped_by_opening_another_patient_says_so_in_the_status_bar(qtbot, window, tmp_path):
    from inference_support import GatedPredict

    win, _ = window
    seg = win.segment
    first, _, _ = write_patient_folder(tmp_path, "BraTS-GLI-00004-000", naming="2023")
    second, _, _ = write_patient_folder(tmp_path, "BraTS-GLI-00005-000", naming="2023")
    win.show_patient(load_patient(first))
    gated = GatedPredict()
    seg.predict = gated
    seg.run_action.trigger()
    assert gated.paused.wait(20)
    with qtbot.waitSignal(win.patient_loaded, timeout=20_000):
        win.open_patient(second)  # the background load; "Opened …" is shown at its end
    for _ in range(5):
        QApplication.processEvents()
    assert not seg.running and seg.active_threads() == 0
    notice = seg.dropped_label
    assert notice.isVisible()
    assert "BraTS-GLI-00004-000" in notice.text() and "BraTS-GLI-00005-000" in notice.text()
    assert "stopped" in notice.text()

    seg.predict = _ring_predict  # the next run clears the notice
    _run(qtbot, win)
    assert not notice.isVisible()
