"""The click model's training: simulated clicks go where the result is most wrong; a step runs on a tiny net (seconds)."""

from __future__ import annotations

import numpy as np
import torch

from brats_desktop.interactive import Click
from tests.interactive_support import tiny_auto
from training import interactive_sim as sim
from training.interactive_train import ClickCase, FirstLayerGuard, robot_window, train_step
from brats_desktop.interactive.network import warm_start

torch.set_num_threads(1)


def test_corrective_click_hits_the_deepest_point_of_the_largest_error() -> None:
    gt = np.zeros((30, 30, 9), np.uint8)
    gt[9:16, 9:16, 1:8] = 2  # a big missed edema block ...
    gt[25:28, 25:28, 3:6] = 3  # ... and a small missed enhancing one
    pred = np.zeros_like(gt)
    item = sim.corrective_click(pred, gt, np.random.default_rng(0), set(), p_robot=1.0, p_scribble=0.0, p_exact=1.0)
    assert isinstance(item, Click) and item.label == 2
    assert item.voxel == (12, 12, 4)  # the block's centre
    pred[:] = gt
    assert sim.corrective_click(pred, gt, np.random.default_rng(0), set()) is None  # nothing wrong, no click


def test_perturbed_reference_differs_but_stays_a_label_map() -> None:
    gt = np.zeros((30, 30, 9), np.uint8)
    gt[8:20, 8:20, 2:7] = 2
    gt[11:17, 11:17, 3:6] = 3
    outs = [sim.perturbed_reference(gt, np.random.default_rng(i)) for i in range(8)]
    assert any((o != gt).any() for o in outs)
    assert all(o.dtype == np.uint8 and o.max() <= 3 for o in outs)


def _case() -> ClickCase:
    rng = np.random.default_rng(0)
    shape = (32, 32, 11)
    gt = np.zeros(shape, np.uint8)
    gt[8:24, 8:24, 2:9] = 2
    gt[12:20, 12:20, 3:8] = 3
    images = rng.normal(0, 1, (2, *shape)).astype(np.float16)
    images[0][gt > 0] += 2
    auto = gt.copy()
    auto[8:12] = 0  # the automatic result misses a slab
    return ClickCase("tiny", images, gt, auto)


def test_a_training_step_updates_new_channels_fast_and_pretrained_ones_gently() -> None:
    net, _ = warm_start(tiny_auto(0))
    first = net.down[0][0]
    before = first.weight.detach().clone()
    opt = torch.optim.AdamW([{"params": [p for n, p in net.named_parameters() if not n.startswith("down.0.0")]},
                             {"params": [first.weight, first.bias]}], lr=1e-3)
    guard = FirstLayerGuard(net, n_auto=6, scale=0.01)
    out = train_step(net, opt, _case(), np.random.default_rng(1), 32, 1.0, guard)
    assert np.isfinite(out["loss"])
    moved = (first.weight.detach() - before).abs()
    assert moved[:, 6:].max() > 10 * moved[:, :6].max() > 0


def test_robot_window_clicks_fix_what_they_force() -> None:
    net, _ = warm_start(tiny_auto(0))
    case = _case()
    img = case.images[:, :, :, 1:10].astype(np.float32)
    gt, auto = case.gt[:, :, 1:10], case.auto[:, :, 1:10]
    out = robot_window(net, img, gt, auto, clicks=2, local=True)
    assert (out != auto).any()  # at least the clicked voxels changed towards the reference


def test_cv_summary_pairs_untrained_and_trained_windows_per_fold(tmp_path) -> None:
    from training.interactive_cv import summarise

    header = "step,minutes," + ",".join(f"{k}_{r}" for k in ("before", "after", "local") for r in ("WT", "TC", "ET"))
    for i, (untrained, trained) in enumerate([(0.80, 0.84), (0.70, 0.72)]):
        fold = tmp_path / f"fold-{i}"
        fold.mkdir()
        rows = [f"0,0.0,{','.join(['0.5'] * 6)},{untrained},0.6,0.6", f"300,6.0,{','.join(['0.5'] * 6)},{trained},0.6,0.6"]
        (fold / "val.csv").write_text(header + "\n" + "\n".join(rows) + "\n")
        (fold / "done").write_text("")
    (tmp_path / "fold-2").mkdir()  # unfinished: left out
    text = summarise(tmp_path)
    assert "| fold-0 |" in text and "| fold-1 |" in text and "fold-2" not in text
    assert "+0.030 ± 0.010 / +0.000 ± 0.000 / +0.000 ± 0.000" in text


def test_out_of_fold_starts_replace_the_models_own_prediction(tmp_path) -> None:
    """With ``starts`` the simulated user corrects the saved out-of-fold segmentation, cropped like the rest."""
    from inference_support import tiny_model, write_patient_folder

    from training.interactive_train import prepare_click_case

    folder, _, labels = write_patient_folder(tmp_path / "data", "Brats18_TEST_1_1", naming="2020")
    model = tiny_model(tmp_path)
    start = np.zeros(labels.shape, dtype=np.uint8)
    start[labels > 0] = 2  # a start that calls the whole tumour edema, unlike any network's answer
    starts = tmp_path / "starts"
    starts.mkdir()
    np.savez(starts / f"{folder.name}.npz", start=start)
    own = prepare_click_case(folder, model, tmp_path / "cache-own", 96)
    given = prepare_click_case(folder, model, tmp_path / "cache-oof", 96, starts)
    assert given.gt.shape == given.auto.shape
    tumour = given.gt > 0
    assert tumour.any() and np.all(given.auto[tumour] == 2) and np.all(given.auto[~tumour] == 0)
    assert not np.array_equal(own.auto, given.auto)
    # cached: read back as written, without the starts folder
    again = prepare_click_case(folder, model, tmp_path / "cache-oof", 96)
    assert np.array_equal(again.auto, given.auto)
