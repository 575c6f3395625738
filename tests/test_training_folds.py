"""Cross-validation folds: disjoint patients, rare strata spread, saved splits train unchanged."""

from __future__ import annotations

import json

import numpy as np
import pytest

from training.crossval import summarise
from training.folds import make_folds, save_folds, stratum_of
from training.split import Split


def _strata(n: int, rare: int) -> dict[str, str]:
    names = [f"p{i:02d}" for i in range(n)]
    return {name: ("low_enhancing" if i < rare else "enhancing") for i, name in enumerate(names)}


@pytest.mark.parametrize("seed", [0, 1, 42])
def test_folds_partition_patients_and_never_share_one(seed: int) -> None:
    strata = _strata(35, 2)
    folds = make_folds(strata, 5, seed)
    vals = [set(f.val) for f in folds]
    assert set().union(*vals) == set(strata)
    assert sum(len(v) for v in vals) == 35  # every patient validated exactly once
    for fold in folds:
        assert not set(fold.train) & set(fold.val)
        assert set(fold.train) | set(fold.val) == set(strata)
    assert sorted(len(v) for v in vals) == [7, 7, 7, 7, 7]


@pytest.mark.parametrize("seed", range(6))
def test_rare_stratum_is_spread_over_folds(seed: int) -> None:
    strata = _strata(35, 3)
    folds = make_folds(strata, 5, seed)
    rare_per_fold = [sum(strata[n] == "low_enhancing" for n in f.val) for f in folds]
    assert max(rare_per_fold) == 1 and sum(rare_per_fold) == 3


def test_fold_sizes_stay_balanced_across_strata() -> None:
    strata = _strata(12, 5)  # 5 rare + 7 common over 4 folds: the deal continues between strata
    sizes = sorted(len(f.val) for f in make_folds(strata, 4, 3))
    assert sizes == [3, 3, 3, 3]


def test_folds_depend_on_seed_only() -> None:
    strata = _strata(20, 2)
    assert make_folds(strata, 4, 7) == make_folds(dict(reversed(list(strata.items()))), 4, 7)
    assert make_folds(strata, 4, 7) != make_folds(strata, 4, 8)


def test_bad_fold_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="folds"):
        make_folds(_strata(3, 0), 4, 0)
    with pytest.raises(ValueError, match="folds"):
        make_folds(_strata(3, 0), 1, 0)


def test_stratum_is_a_share_of_the_tumour_not_millilitres() -> None:
    labels = np.zeros((40, 40, 40), np.uint8)
    labels[5:35, 5:35, 5:35] = 2  # 27 mL of edema
    labels[10:13, 10:13, 10:13] = 3  # 27 voxels of enhancing: 0.1 % of the tumour
    assert stratum_of(labels) == "low_enhancing"
    labels[10:20, 10:20, 10:20] = 3  # 1,000 voxels: 3.7 %
    assert stratum_of(labels) == "enhancing"
    assert stratum_of(np.zeros((4, 4, 4), np.uint8)) == "low_enhancing"


def test_saved_folds_are_ordinary_split_files(tmp_path) -> None:
    strata = _strata(10, 2)
    folds = make_folds(strata, 5, 1)
    save_folds(folds, strata, tmp_path)
    for i, fold in enumerate(folds):
        assert Split.load(tmp_path / f"fold-{i}" / "split.json") == fold
    stored = json.loads((tmp_path / "folds.json").read_text())
    assert stored["folds"] == [f.val for f in folds]
    assert stored["strata"]["p00"] == "low_enhancing"


def test_summary_reports_each_fold_the_fold_means_and_the_pooled_mean() -> None:
    rows = [
        {"fold": "fold-0", "patient": "a", "dice_WT": 0.8, "dice_TC": 0.6, "dice_ET": 0.5,
         "hd95_WT": 5.0, "hd95_TC": 6.0, "hd95_ET": float("inf")},
        {"fold": "fold-0", "patient": "c", "dice_WT": 1.0, "dice_TC": 0.6, "dice_ET": 0.5,
         "hd95_WT": 5.0, "hd95_TC": 6.0, "hd95_ET": 4.0},
        {"fold": "fold-1", "patient": "b", "dice_WT": 0.6, "dice_TC": 0.4, "dice_ET": 0.7,
         "hd95_WT": 7.0, "hd95_TC": 8.0, "hd95_ET": 2.0},
    ]
    lines = summarise(rows, 2).strip().splitlines()
    assert lines[2].startswith("| fold 0 | 2 | 0.900 ± 0.100")
    assert lines[2].endswith("| 4.0 ± 0.0 |")  # an infinite HD95 (empty prediction) is left out of the mean
    assert lines[3].startswith("| fold 1 | 1 | 0.600 ± 0.000")
    # the fold means 0.9 and 0.6 weigh equally, whatever the fold sizes
    assert lines[4].startswith("| mean ± sd of the 2 fold means | 3 | 0.750 ± 0.150 | 0.500 ± 0.100")
    assert lines[5].startswith("| **all patients** | 3 | 0.800 ± 0.163")
    assert "lesion-wise" not in "\n".join(lines)  # not scored: no empty table


def test_summary_adds_the_lesion_wise_table_when_scored() -> None:
    row = {"fold": "fold-0", "patient": "a"}
    for r, d in zip(("WT", "TC", "ET"), (0.9, 0.8, 0.7)):
        row |= {f"dice_{r}": d, f"hd95_{r}": 3.0, f"lw_dice_{r}": d - 0.2, f"lw_hd95_{r}": 40.0}
    table = summarise([row], 1)
    lw = table[table.index("| lesion-wise"):].splitlines()
    assert lw[2].startswith("| fold 0 | 1 | 0.700 ± 0.000 | 0.600 ± 0.000 | 0.500 ± 0.000 | 40.0 ± 0.0")


def test_folds_from_another_run_keep_each_patients_fold(tmp_path, monkeypatch) -> None:
    """A recipe needing T2 is compared on the same held-out patients, minus those without T2."""
    from training import crossval

    strata = _strata(10, 2)
    folds = make_folds(strata, 5, 3)
    save_folds(folds, strata, tmp_path / "first")
    data = tmp_path / "data"
    keep = sorted(strata)[2:]  # two patients lack the modality the second recipe needs
    for name in keep:
        (data / name).mkdir(parents=True)
    monkeypatch.setattr(crossval, "real_patient_folders", lambda roots: [data / n for n in keep])
    crossval.main(["--data", str(data), "--folds-from", str(tmp_path / "first" / "folds.json"),
                   "--out", str(tmp_path / "second"), "--score-only"])
    second = json.loads((tmp_path / "second" / "folds.json").read_text())
    for i, fold in enumerate(folds):
        assert second["folds"][i] == [n for n in fold.val if n in keep]
        split = Split.load(tmp_path / "second" / f"fold-{i}" / "split.json")
        assert not set(split.train) & set(split.val)
        assert sorted(split.train + split.val) == keep
    assert set(second["strata"]) == set(keep)


def test_folds_from_refuses_a_patient_it_has_no_fold_for(tmp_path, monkeypatch) -> None:
    from training import crossval

    strata = _strata(6, 1)
    save_folds(make_folds(strata, 3, 0), strata, tmp_path / "first")
    monkeypatch.setattr(crossval, "real_patient_folders", lambda roots: [tmp_path / "p00", tmp_path / "stranger"])
    with pytest.raises(SystemExit, match="no fold for stranger"):
        crossval.main(["--data", str(tmp_path), "--folds-from", str(tmp_path / "first" / "folds.json"),
                       "--out", str(tmp_path / "second"), "--score-only"])


def _oof(run, fold: int, rows: list[dict]) -> None:
    (run / f"fold-{fold}").mkdir(parents=True, exist_ok=True)
    (run / f"fold-{fold}" / "oof.json").write_text(json.dumps(rows))


def test_paired_comparison_counts_patients_both_runs_scored(tmp_path) -> None:
    from training.compare_cv import load_rows, paired, table

    ref, cand = tmp_path / "ref", tmp_path / "cand"
    _oof(ref, 0, [{"patient": "a", "dice_WT": 0.8}, {"patient": "b", "dice_WT": 0.6}])
    _oof(ref, 1, [{"patient": "c", "dice_WT": 0.9}])  # the candidate could not score c (no T2)
    _oof(cand, 0, [{"patient": "a", "dice_WT": 0.9}, {"patient": "b", "dice_WT": 0.6}])
    s = paired(load_rows(ref), load_rows(cand), ["dice_WT"])["dice_WT"]
    assert s["n"] == 2 and s["reference"] == pytest.approx(0.7) and s["candidate"] == pytest.approx(0.75)
    assert s["diff"] == pytest.approx(0.05) and s["diff_sd"] == pytest.approx(0.05)
    assert (s["wins"], s["losses"]) == (1, 0)  # b did not move
    assert s["diff_se"] == pytest.approx(0.05)  # sd with ddof=1 (0.0707) / sqrt(2)
    assert "| cand | dice_WT | 2 | 0.700 | 0.750 | +0.050 ± 0.050 | 0.050 | 1 / 0 | no clear difference |" in table(
        ["ref", "cand"], [load_rows(ref), load_rows(cand)])
    with pytest.raises(SystemExit, match="no scored folds"):
        load_rows(tmp_path / "empty")


def test_verdict_needs_a_difference_beyond_twice_its_standard_error() -> None:
    from training.compare_cv import paired, verdict

    ref = {f"p{i}": {"dice_WT": 0.8} for i in range(10)}
    steady = {f"p{i}": {"dice_WT": 0.8 + 0.02 + 0.005 * (i % 2)} for i in range(10)}
    noisy = {f"p{i}": {"dice_WT": 0.8 + (0.3 if i % 2 else -0.26)} for i in range(10)}
    assert verdict(paired(ref, steady, ["dice_WT"])["dice_WT"]) == "better"
    assert verdict(paired(steady, ref, ["dice_WT"])["dice_WT"]) == "worse"
    assert verdict(paired(ref, noisy, ["dice_WT"])["dice_WT"]) == "no clear difference"  # +0.02 mean, huge spread


def test_a_run_scored_another_way_is_read_from_its_own_files(tmp_path) -> None:
    from training.compare_cv import load_rows

    run = tmp_path / "run"
    _oof(run, 0, [{"patient": "a", "dice_WT": 0.8}])
    (run / "fold-0" / "oof-tta-flip.json").write_text(json.dumps([{"patient": "a", "dice_WT": 0.85}]))
    assert load_rows(run)["a"]["dice_WT"] == 0.8
    assert load_rows(f"{run}:oof-tta-flip")["a"]["dice_WT"] == 0.85
    with pytest.raises(SystemExit, match="oof-none.json"):
        load_rows(f"{run}:oof-none")


def test_tta_scoring_needs_finished_folds(tmp_path, capsys) -> None:
    from training import crossval

    with pytest.raises(SystemExit):
        crossval.main(["--data", str(tmp_path), "--out", str(tmp_path / "cv"), "--tta", "flip"])
    assert "use it with --score-only" in capsys.readouterr().err
    assert not (tmp_path / "cv").exists()  # refused before any folds were written
    assert crossval.scores_name("flip") == "-tta-flip" and crossval.scores_name("none") == ""


def test_a_shipped_models_evaluation_is_compared_with_the_folds(tmp_path) -> None:
    from training.compare_cv import load_rows, paired

    evaluation = tmp_path / "evaluation.json"
    evaluation.write_text(json.dumps({"model": "m", "cases": [{"patient": "a", "dice_WT": 0.6}, {"patient": "b", "dice_WT": 0.7}]}))
    run = tmp_path / "run"
    _oof(run, 0, [{"patient": "a", "dice_WT": 0.8}, {"patient": "b", "dice_WT": 0.8}])
    s = paired(load_rows(evaluation), load_rows(run), ["dice_WT"])["dice_WT"]
    assert (s["n"], s["reference"], s["candidate"]) == (2, pytest.approx(0.65), pytest.approx(0.8))
    (tmp_path / "other.json").write_text(json.dumps({"folds": []}))
    with pytest.raises(SystemExit, match="no per-case rows"):
        load_rows(tmp_path / "other.json")


def test_score_only_leaves_a_fold_that_is_still_training(tmp_path, monkeypatch, capsys) -> None:
    """A parallel --only job's fold has a best.pt of some epoch but no 'done': it must not be scored and cached."""
    from training import crossval

    strata = _strata(6, 1)
    run = tmp_path / "run"
    save_folds(make_folds(strata, 3, 0), strata, run)
    (run / "fold-1" / "best.pt").write_bytes(b"a checkpoint mid-training")
    monkeypatch.setattr(crossval, "real_patient_folders", lambda roots: [tmp_path / n for n in strata])
    scored: list[str] = []
    monkeypatch.setattr(crossval, "score_fold", lambda fold_dir, *a, **k: scored.append(fold_dir.name) or [])
    assert crossval.main(["--data", str(tmp_path), "--out", str(run), "--score-only"]) == 0
    assert scored == []
    assert "fold-1 has not finished training (no 'done'): not scored" in capsys.readouterr().err
    (run / "fold-1" / "done").write_text("finished\n")
    crossval.main(["--data", str(tmp_path), "--out", str(run), "--score-only"])
    assert scored == ["fold-1"]


def test_an_ensemble_partner_must_have_the_same_folds(tmp_path, monkeypatch) -> None:
    """Fold i of a run dealt otherwise may have trained on this run's fold-i patients: a leak, refused."""
    from training import crossval

    strata = _strata(9, 2)
    run, same, other = tmp_path / "run", tmp_path / "same", tmp_path / "other"
    save_folds(make_folds(strata, 3, 0), strata, run)
    save_folds(make_folds(strata, 3, 0), strata, same)
    save_folds(make_folds(strata, 3, 5), strata, other)
    folds = lambda d: [sorted(f) for f in json.loads((d / "folds.json").read_text())["folds"]]  # noqa: E731
    assert folds(run) != folds(other)
    for d in (run, same, other):
        for i in range(3):
            (d / f"fold-{i}" / "best.pt").write_bytes(b"model")
            (d / f"fold-{i}" / "done").write_text("finished\n")
    monkeypatch.setattr(crossval, "real_patient_folders", lambda roots: [tmp_path / n for n in strata])
    calls: list[tuple[str, tuple]] = []
    monkeypatch.setattr(crossval, "score_fold", lambda fold_dir, *a, **k: calls.append((fold_dir.name, a)) or [])
    with pytest.raises(SystemExit, match="other folds"):
        crossval.main(["--data", str(tmp_path), "--out", str(run), "--score-only", "--ensemble-with", str(other)])
    assert calls == []
    (same / "fold-2" / "done").unlink()  # a partner fold still training is not scored either
    crossval.main(["--data", str(tmp_path), "--out", str(run), "--score-only", "--ensemble-with", str(same)])
    assert [name for name, _ in calls] == ["fold-0", "fold-1"]
    assert calls[0][1][-1] == [same]  # the partner run reaches score_fold
    assert crossval.scores_name("none", [same]) == "-ens-same"
    assert crossval.scores_name("flip", [same, other]) == "-tta-flip-ens-same-other"


def test_ensemble_scoring_needs_finished_folds(tmp_path, capsys) -> None:
    from training import crossval

    with pytest.raises(SystemExit):
        crossval.main(["--data", str(tmp_path), "--out", str(tmp_path / "cv"), "--ensemble-with", str(tmp_path)])
    assert "use it with --score-only" in capsys.readouterr().err


def test_a_resumed_fold_gets_its_data_and_split_again(tmp_path, monkeypatch):
    """The resume file holds the config only: without --data/--split the fold had no data (or a new split)."""
    from training import crossval

    fold = tmp_path / "fold-1"
    fold.mkdir()
    (fold / "last_state.pt").write_bytes(b"state")
    seen: list[list[str]] = []
    monkeypatch.setattr(crossval.subprocess, "call", lambda cmd, **kw: seen.append(cmd) or 0)
    crossval.train_fold(fold, [tmp_path / "a", tmp_path / "b"], ["--epochs", "3"], None, 1)
    cmd = seen[0]
    assert cmd[cmd.index("--resume") + 1] == str(fold / "last_state.pt")
    assert [cmd[i + 1] for i, c in enumerate(cmd) if c == "--data"] == [str(tmp_path / "a"), str(tmp_path / "b")]
    assert cmd[cmd.index("--split") + 1] == str(fold / "split.json")
    assert (fold / "done").exists()
