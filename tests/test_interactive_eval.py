"""brats-evaluate --interactive: NoC and harm rate on hand-made curves, the baselines, the report's columns."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from brats_desktop.core.editing import paint_ball
from brats_desktop.interactive.engine import RefineResult
from brats_desktop.interactive.guidance import Click
from tests.test_training_evaluate import _tiny_model
from tests.tiny_cases import make_folder
from training.baseline_engines import BrushEngine, ComponentOracle, RegionEngine
from training.evaluate import main
from training.interactive_eval import CASE_COLUMNS, number_of_clicks, robot_curve, summarize

torch.set_num_threads(1)


def _rows(curve: dict[str, list[float]], seconds: list[float | None]) -> list[dict[str, Any]]:
    """robot_curve-like rows from per-region Dice lists (harm as robot_curve marks it)."""
    out: list[dict[str, Any]] = []
    for k in range(len(seconds)):
        row = {"clicks": k, **{r: curve[r][k] for r in curve}, "seconds": seconds[k], "click": None}
        row["harmful"] = k > 0 and seconds[k] is not None and any(out[-1][r] - row[r] > 0.01 for r in curve)
        out.append(row)
    return out


def test_number_of_clicks_is_the_first_count_reaching_the_threshold_capped_at_n() -> None:
    curve = [0.70, 0.84, 0.86, 0.85, 0.91]
    assert number_of_clicks(curve, 0.85) == (2, True)
    assert number_of_clicks(curve, 0.90) == (4, True)
    assert number_of_clicks(curve, 0.95) == (4, False)  # never reached: N, and a failure
    assert number_of_clicks([0.93, 0.5], 0.90) == (0, True)  # good from the start: no click needed


def test_summary_means_noc_harm_rate_and_seconds_on_hand_made_curves() -> None:
    a = _rows({"WT": [0.80, 0.86, 0.91], "TC": [0.70, 0.68, 0.82], "ET": [0.80, 0.80, 0.80]}, [None, 1.0, 3.0])
    # b: the WT drop of 0.005 is not harm; ET 0.90 -> 0.85 is. Its second "click" had nothing left to fix.
    b = _rows({"WT": [0.92, 0.915, 0.915], "TC": [0.90, 0.90, 0.90], "ET": [0.90, 0.85, 0.85]}, [None, 2.0, None])
    s = summarize([{"case": "a", "engine": "x", "curve": a}, {"case": "b", "engine": "x", "curve": b}], 2)["x"]
    assert s["mean_dice"]["WT"] == pytest.approx([0.86, 0.8875, 0.9125])
    assert s["gain"]["TC"] == pytest.approx(0.06)
    assert s["noc"]["WT@85"] == {"mean": 0.5, "failures": 0}  # a: 1, b: 0
    assert s["noc"]["WT@90"] == {"mean": 1.0, "failures": 0}  # a: 2, b: 0
    assert s["noc"]["TC@85"] == {"mean": 1.0, "failures": 1}  # a never (capped at 2), b: 0
    assert s["noc"]["ET@85"] == {"mean": 1.0, "failures": 1}  # a never (2), b: 0
    # Clicks made: a 2, b 1. Harmful: a's first (TC -0.02) and b's first (ET -0.05): 2 of 3.
    assert (s["clicks_made"], s["harmful_clicks"]) == (3, 2)
    assert s["harm_rate"] == pytest.approx(2 / 3)
    assert (s["seconds_p50"], s["seconds_p95"]) == (2.0, pytest.approx(2.9))
    assert (s["seconds_first_mean"], s["seconds_p95_later"]) == (1.5, 3.0)  # first clicks 1 and 2; a's second 3


class _OracleEngine:
    """Fixes the whole error component under each click: the curve must climb to 1 and then stop clicking."""

    def __init__(self, truth: np.ndarray) -> None:
        self.truth = truth
        self.calls: list[int] = []

    def refine(self, images, labels, guidance, locked=None) -> RefineResult:
        from scipy import ndimage

        self.calls.append(len(guidance))
        if not guidance:
            return RefineResult(labels.copy(), (slice(0, 0),) * 3, 0.0)
        click = guidance[-1]
        wrong = (labels != self.truth) & (self.truth == click.label)
        pieces, _ = ndimage.label(wrong)
        piece = pieces == pieces[click.voxel]
        out = labels.copy()
        out[piece] = click.label
        return RefineResult(out, (slice(None),) * 3, 0.0)


def test_robot_curve_feeds_cumulative_clicks_and_stops_when_nothing_is_left() -> None:
    truth = np.zeros((16, 16, 12), np.uint8)
    truth[2:8, 2:8, 2:8] = 2
    truth[4:6, 4:6, 4:6] = 3
    start = np.zeros_like(truth)
    start[2:8, 2:8, 2:8] = 2  # edema right, enhancing core missed
    start[10:13, 10:13, 8:11] = 1  # and a false core blob
    engine = _OracleEngine(truth)
    rows = robot_curve(engine, {}, start, truth, clicks=4)
    assert [r["clicks"] for r in rows] == [0, 1, 2, 3, 4]
    assert rows[1]["click"].label == 0 and rows[2]["click"].label == 3  # the 27-voxel blob before the 8-voxel core
    assert rows[2]["WT"] == rows[2]["TC"] == rows[2]["ET"] == 1.0
    assert rows[3]["seconds"] is None and rows[3]["click"] is None and rows[4]["WT"] == 1.0
    assert engine.calls == [0, 1, 2]  # no guidance (the check), then all guidance so far, every time
    assert rows[0]["no_guidance"] == {r: rows[0][r] for r in ("WT", "TC", "ET")}


def test_paint_ball_is_a_clipped_3d_ball() -> None:
    labels = np.zeros((12, 12, 12), np.uint8)
    bbox = paint_ball(labels, (6, 6, 6), 3, 2)
    assert int((labels == 2).sum()) == 123  # lattice points within distance 3
    assert bbox == (slice(3, 10), slice(3, 10), slice(3, 10))
    assert labels[6, 6, 9] == 2 and labels[6, 8, 8] == 2 and labels[8, 8, 8] == 0
    corner = np.zeros((12, 12, 12), np.uint8)
    paint_ball(corner, (0, 0, 0), 3, 1)
    # Clipped to the one octant inside the volume: lattice points with x, y, z >= 0 within distance 3.
    assert int(corner.sum()) == sum(1 for x in range(4) for y in range(4) for z in range(4) if x * x + y * y + z * z <= 9)
    assert paint_ball(labels, (6, 6, 6), 3, 2) is None  # nothing changed


def test_brush_engine_paints_a_ball_of_the_newest_click_only() -> None:
    labels = np.zeros((16, 16, 16), np.uint8)
    result = BrushEngine().refine({}, labels, [Click((3, 3, 3), 2), Click((10, 10, 10), 3)])
    assert int((result.labels == 3).sum()) == 123 and int((result.labels == 2).sum()) == 0
    assert result.labels[10, 10, 10] == 3 and labels.sum() == 0  # a new array; the input is kept
    outside = np.ones(labels.shape, bool)
    outside[result.bbox] = False
    assert not result.labels[outside].any()


def test_region_engine_relabels_the_piece_under_the_click_and_cannot_grow() -> None:
    labels = np.zeros((16, 16, 16), np.uint8)
    labels[2:8, 2:8, 2:8] = 2
    labels[4:6, 4:6, 4:6] = 1  # a core inside the edema
    labels[11:14, 11:14, 11:14] = 3  # a separate blob
    region = RegionEngine()
    core = region.refine({}, labels, [Click((4, 4, 4), 3)]).labels  # a class click: the core piece only
    assert (core[4:6, 4:6, 4:6] == 3).all() and int((core == 2).sum()) == int((labels == 2).sum())
    gone = region.refine({}, labels, [Click((12, 12, 12), 0)]).labels  # background click: the whole blob
    assert not (gone == 3).any() and (gone[2:8, 2:8, 2:8] > 0).all()
    whole = region.refine({}, labels, [Click((2, 2, 2), 0)]).labels  # ... edema and core together
    assert not whole[2:8, 2:8, 2:8].any()
    nothing = region.refine({}, labels, [Click((0, 15, 0), 2)])  # on background: the tool cannot add tumour
    assert np.array_equal(nothing.labels, labels) and nothing.labels[0, 15, 0] == 0


def test_oracle_fixes_exactly_the_error_component_under_the_click() -> None:
    truth = np.zeros((16, 16, 16), np.uint8)
    truth[2:8, 2:8, 2:8] = 2
    truth[11:14, 11:14, 11:14] = 2  # a second missed lesion of the same class
    shown = np.zeros_like(truth)
    shown[2:8, 2:8, 2:5] = 2  # the first lesion half found
    oracle = ComponentOracle(truth)
    fixed = oracle.refine({}, shown, [Click((4, 4, 6), 2)])
    assert (fixed.labels[2:8, 2:8, 2:8] == 2).all()  # the clicked error, all of it
    assert not fixed.labels[11:14, 11:14, 11:14].any()  # the other error waits for its own click
    assert fixed.labels[tuple(s.start for s in fixed.bbox)] == 2 and not shown[2:8, 2:8, 5:8].any()
    # A click whose voxel is already right changes that voxel only (nothing else is "its" error).
    same = oracle.refine({}, shown, [Click((0, 0, 0), 2)]).labels
    assert same[0, 0, 0] == 2 and int((same != shown).sum()) == 1


def test_robot_with_the_oracle_fixes_one_error_per_click() -> None:
    truth = np.zeros((16, 16, 16), np.uint8)
    truth[2:8, 2:8, 2:8] = 2
    truth[11:14, 11:14, 11:14] = 3
    start = np.zeros_like(truth)
    curve = robot_curve(ComponentOracle(truth), {}, start, truth, 3)
    assert [row["click"].label if row["click"] else None for row in curve[1:]] == [2, 3, None]
    assert curve[1]["ET"] == 0.0 and curve[2]["ET"] == 1.0 and curve[2]["WT"] == 1.0


def _cases(root: Path) -> Path:
    for pid in ("P1", "P2"):
        make_folder(root / pid, {"flair": f"{pid}_flair.nii.gz", "t1ce": f"{pid}_t1ce.nii.gz",
                                 "seg": f"{pid}_seg.nii.gz"}, seg_values="2020")
    return root


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_cli_writes_per_click_rows_summary_and_curves_for_each_engine(tmp_path: Path) -> None:
    root = _cases(tmp_path / "cohort")
    model = _tiny_model(tmp_path / "m.pt")
    out = tmp_path / "eval"
    assert main([str(root), "--model", str(model), "--out", str(out), "--threads", "1",
                 "--interactive", "3", "--engine", "brush", "region", "oracle"]) == 0
    rows = _csv(out / "interactive-cases.csv")
    assert tuple(rows[0]) == CASE_COLUMNS
    assert [(r["case"], r["engine"], r["clicks"]) for r in rows[:4]] == [("P1", "brush", str(k)) for k in range(4)]
    assert len(rows) == 2 * 3 * 4  # cases x engines x (0..3 clicks)
    assert rows[0]["seconds"] == "" and rows[0]["ncr_definition"] == "brats2021"  # click 0: the automatic result
    summary = {r["engine"]: r for r in _csv(out / "interactive-summary.csv")}
    assert set(summary) == {"brush", "region", "oracle"}
    # The ceiling: every click fixes a whole error, so no manual tool ends above it.
    assert float(summary["oracle"]["dice_wt_3"]) >= max(float(summary[e]["dice_wt_3"]) for e in ("brush", "region"))
    for key in ("dice_wt_0", "dice_wt_3", "noc_wt_90", "failures_wt_90", "noc_tc_80", "noc_et_85",
                "harm_rate", "seconds_p50", "seconds_p95", "no_guidance_max_change"):
        assert key in summary["brush"]
    curves = _csv(out / "interactive-curves.csv")
    first = [r for r in rows if r["engine"] == "brush" and r["clicks"] == "0"]
    assert float(curves[0]["dice_wt"]) == pytest.approx(np.mean([float(r["dice_wt"]) for r in first]), abs=1e-4)
    assert float(summary["region"]["no_guidance_max_change"]) == 0.0  # a manual tool does nothing unclicked
    data = json.loads((out / "interactive.json").read_text())
    assert data["engines"]["region"]["cases"] == 2 and len(data["engines"]["region"]["mean_dice"]["TC"]) == 4


def test_cli_corrects_each_patient_with_its_fold_model(tmp_path: Path, monkeypatch) -> None:
    from brats_desktop.interactive import engine as engine_module

    root = _cases(tmp_path / "cohort")
    (tmp_path / "folds.json").write_text(json.dumps({"folds": [["P2"], ["P1"]]}))
    for i in range(2):
        (tmp_path / "models" / f"fold-{i}").mkdir(parents=True)
        (tmp_path / "models" / f"fold-{i}" / "model.pt").write_bytes(b"")
    loaded: list[str] = []

    def from_file(cls, path, device="cpu"):
        loaded.append(Path(path).parent.name)
        return BrushEngine()

    monkeypatch.setattr(engine_module.ClickEngine, "from_file", classmethod(from_file))
    out = tmp_path / "eval"
    assert main([str(root), "--model", str(_tiny_model(tmp_path / "m.pt")), "--out", str(out), "--threads", "1",
                 "--interactive", "1", "--folds", str(tmp_path / "folds.json"),
                 "--fold-models", str(tmp_path / "models")]) == 0
    models = {r["case"]: r["model"] for r in _csv(out / "interactive-cases.csv")}
    assert Path(models["P1"]).parent.name == "fold-1" and Path(models["P2"]).parent.name == "fold-0"
    assert loaded == ["fold-1", "fold-0"]  # each loaded once, in the order the patients came
    monkeypatch.undo()  # the real loader: an empty file is no click model, and the message says which
    with pytest.raises(SystemExit, match="click model .*fold-1.*model.pt"):
        main([str(root), "--model", str(_tiny_model(tmp_path / "m.pt")), "--out", str(out), "--interactive", "1",
              "--folds", str(tmp_path / "folds.json"), "--fold-models", str(tmp_path / "models")])
    with pytest.raises(SystemExit, match="--folds and --fold-models go together"):
        main([str(root), "--out", str(out), "--interactive", "1", "--folds", str(tmp_path / "folds.json")])


def _auto_model(path: Path, seed: int) -> Path:
    """A tiny automatic model of its own (seeded) weights, saved where brats-train puts a fold's model."""
    from models.checkpoint import load_model, save_model

    _tiny_model(path)
    loaded = load_model(path, fuse=False)
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in loaded.network.parameters():
            p.add_(0.3 * torch.randn_like(p))
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_model(path, loaded.network, loaded.metadata)


def test_cli_starts_and_corrects_each_patient_with_its_fold_automatic_model(tmp_path: Path, monkeypatch) -> None:
    """--fold-auto-models: a patient of fold i starts from DIR/fold-i/best.pt's segmentation and is corrected by
    the click model warm-started from that same model (the bundled click model is never used)."""
    from brats_desktop.interactive import engine as engine_module

    root = _cases(tmp_path / "cohort")
    (tmp_path / "folds.json").write_text(json.dumps({"folds": [["P2"], ["P1"]]}))
    autos = {i: _auto_model(tmp_path / "auto" / f"fold-{i}" / "best.pt", seed=10 + i) for i in range(2)}

    def no_bundled(cls, *args, **kwargs):
        raise AssertionError("the bundled click model saw every patient: not out of fold")

    monkeypatch.setattr(engine_module.ClickEngine, "bundled", classmethod(no_bundled))
    out = tmp_path / "eval"
    assert main([str(root), "--out", str(out), "--threads", "1", "--interactive", "2", "--engine", "click", "brush",
                 "--folds", str(tmp_path / "folds.json"), "--fold-auto-models", str(tmp_path / "auto")]) == 0
    rows = _csv(out / "interactive-cases.csv")
    clicks = {r["case"]: r["model"] for r in rows if r["engine"] == "click"}
    assert clicks == {"P1": f"warm-start:{autos[1]}", "P2": f"warm-start:{autos[0]}"}
    cases = {(c["case"], c["engine"]): c for c in json.loads((out / "interactive.json").read_text())["cases"]}
    assert cases[("P1", "brush")]["automatic_model"] == str(autos[1])
    assert cases[("P2", "click")]["automatic_model"] == str(autos[0])
    # The start is that fold model's own segmentation: what a plain run with that model starts from.
    for case, fold in (("P1", 1), ("P2", 0)):
        plain = tmp_path / f"plain-{case}"
        assert main([str(root / case), "--model", str(autos[fold]), "--out", str(plain), "--threads", "1",
                     "--interactive", "0", "--engine", "brush"]) == 0
        start = next(r for r in rows if r["case"] == case and r["clicks"] == "0")
        assert _csv(plain / "interactive-cases.csv")[0]["dice_wt"] == start["dice_wt"]
    with pytest.raises(SystemExit, match="no automatic model for fold 1"):
        (tmp_path / "auto" / "fold-1" / "best.pt").unlink()
        main([str(root), "--out", str(out), "--interactive", "1", "--folds", str(tmp_path / "folds.json"),
              "--fold-auto-models", str(tmp_path / "auto")])
    with pytest.raises(SystemExit, match="need --folds"):
        main([str(root), "--out", str(out), "--interactive", "1", "--fold-auto-models", str(tmp_path / "auto")])


def test_click_model_from_an_automatic_model_is_its_untrained_warm_start() -> None:
    """keep = follow = 0 answers as the automatic model; the defaults are the bundled click model's shortcut."""
    from brats_desktop.interactive.engine import ClickEngine
    from brats_desktop.interactive.network import assemble_inputs, click_model_from_automatic
    from tests.interactive_support import tiny_auto

    auto = tiny_auto(3)
    same = click_model_from_automatic(auto, keep=0.0, follow=0.0)
    rng = np.random.default_rng(0)
    img = rng.normal(size=(2, 16, 16, 5)).astype(np.float32)
    labels = rng.integers(0, 4, (16, 16, 5)).astype(np.uint8)
    guid = (rng.random((4, 16, 16, 5)) > 0.9).astype(np.float32)
    x = torch.from_numpy(assemble_inputs(img, labels, guid, [1, 2, 3]))
    with torch.no_grad():
        torch.testing.assert_close(same.network(x), auto.network(x[:, :6]), rtol=0, atol=0)
    default = click_model_from_automatic(auto)
    prior = default.network.prior.weight.detach()[:, :, 0, 0]
    assert prior[3, 7] == 4.0 and prior[3, 12] == 4.0 and float(prior.abs().sum()) == 4.0 * 7  # keep 3 + follow 4
    assert default.metadata["training"]["steps"] == 0
    ClickEngine(default)  # a valid click model for the engine


def test_cli_click_grow_sets_the_engines_growth_rule(tmp_path: Path) -> None:
    root = _cases(tmp_path / "cohort")
    (tmp_path / "folds.json").write_text(json.dumps({"folds": [["P1", "P2"]]}))
    _auto_model(tmp_path / "auto" / "fold-0" / "best.pt", seed=3)
    args = [str(root), "--threads", "1", "--interactive", "1", "--folds", str(tmp_path / "folds.json"),
            "--fold-auto-models", str(tmp_path / "auto")]
    assert main([*args, "--out", str(tmp_path / "none"), "--click-grow", "none"]) == 0
    assert json.loads((tmp_path / "none" / "interactive.json").read_text())["click_grow"] == "none"
    assert main([*args, "--out", str(tmp_path / "default")]) == 0
    from brats_desktop.interactive.engine import GROW

    assert json.loads((tmp_path / "default" / "interactive.json").read_text())["click_grow"] == GROW.notation()
    with pytest.raises(SystemExit, match="--click-grow: 'far' is not a growth setting"):
        main([*args, "--out", str(tmp_path / "bad"), "--click-grow", "far"])
