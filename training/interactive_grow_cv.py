"""Choose the click engine's growth rule by patient-level cross-validation, on out-of-fold starts.

``python -m training.interactive_grow_cv cache --folds F --fold-auto-models DIR --data D... --out C``
runs each patient's fold automatic model once (as ``brats-evaluate --interactive`` does:
:func:`models.runtime.predict_patient`, the folder's own meaning of label 1) and stores the
start, its probabilities, the reference and the model's inputs in ``C/<patient>.npz``.

``python -m training.interactive_grow_cv search --cache C --fold-auto-models DIR --clicks N --grid G``
runs the robot user (:func:`training.interactive_eval.robot_curve`) with the click engine built
from the patient's own fold model (the untrained warm start, as bundled; ``--fold-click-models``:
trained click models of the same folds) under every growth setting of the grid, and writes one
row per patient and setting to ``C/search.csv``.

``python -m training.interactive_grow_cv select --cache C`` picks, for each fold, the setting
with the best mean gain among those with a harm rate of at most 5 % on the OTHER folds'
patients and reports that fold's patients with it (rotated over the folds), so no patient's
figure comes from a setting chosen on it.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

REGIONS = ("WT", "TC", "ET")


def cache(args: argparse.Namespace) -> int:
    import torch

    from brats_desktop.core.label_meaning import resolve_ncr_definition
    from brats_desktop.core.patient import load_patient
    from models.runtime import predict_patient

    from .evaluate import labelled_folders
    from .interactive_eval import AutoModels, read_folds

    torch.set_num_threads(1)
    folds = read_folds(args.folds)
    autos = AutoModels(None, folds, args.fold_auto_models, print)
    args.out.mkdir(parents=True, exist_ok=True)
    for folder in labelled_folders(args.data):
        target = args.out / f"{folder.name}.npz"
        if target.exists() or folder.name not in folds:
            continue
        if not (args.fold_auto_models / f"fold-{folds[folder.name]}" / "done").exists():
            continue  # that fold's training has not finished (best.pt is rewritten every epoch)
        try:
            model, key = autos.for_patient(folder.name)
        except SystemExit as exc:  # that fold's model is not trained yet
            print(exc)
            continue
        t0 = time.time()
        patient = load_patient(folder)
        definition, _ = resolve_ncr_definition(None if args.ncr_definition == "raw" else args.ncr_definition, patient)
        run = predict_patient(model, patient, device="cpu", ncr_definition=definition, tta="none")
        tmp = target.with_name(target.stem + ".partial.npz")
        np.savez(tmp, start=run.labels, probabilities=run.probabilities, truth=patient.ground_truth,
                 spacing=np.asarray(patient.spacing), fold=folds[folder.name], model=key,
                 ncr_definition=str(definition), **{f"image_{m}": patient.images[m] for m in model.modalities})
        tmp.replace(target)
        print(f"{folder.name} fold {folds[folder.name]}: {time.time() - t0:.0f} s", flush=True)
    return 0


def load_case(path: Path) -> dict[str, Any]:
    with np.load(path) as z:
        return {"name": path.stem, "start": z["start"], "probabilities": z["probabilities"], "truth": z["truth"],
                "spacing": tuple(z["spacing"]), "fold": int(z["fold"]), "model": str(z["model"]),
                "images": {k[len("image_"):]: z[k] for k in z.files if k.startswith("image_")}}


def parse_rule(text: str):
    """A growth setting of the grid (:meth:`brats_desktop.interactive.grow.GrowRule.parse`'s notation)."""
    from brats_desktop.interactive.grow import GrowRule

    try:
        return GrowRule.parse(text)
    except ValueError as exc:
        raise SystemExit(f"interactive_grow_cv: {exc}") from None


SEARCH_COLUMNS = ("case", "fold", "setting", "clicks", "WT", "TC", "ET", "seconds")


def search(args: argparse.Namespace) -> int:
    import torch

    from brats_desktop.interactive.engine import ClickEngine
    from brats_desktop.interactive.network import click_model_from_automatic
    from models.checkpoint import load_model

    from .baseline_engines import REFERENCE_ENGINES, reference_engine
    from .interactive_eval import fold_auto_model_path, fold_model_path, robot_curve

    torch.set_num_threads(1)
    out = args.cache / args.name
    done: set[tuple[str, str]] = set()
    if out.exists():
        with open(out, newline="", encoding="utf-8") as fh:
            done = {(r["case"], r["setting"]) for r in csv.DictReader(fh)}
    engines: dict[int, ClickEngine] = {}
    paths = sorted(p for p in args.cache.glob("*.npz") if not p.name.endswith(".partial.npz"))
    with open(out, "a", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=SEARCH_COLUMNS)
        if not done:
            writer.writeheader()
        for path in paths:
            case = None
            for setting in args.grid:
                if (path.stem, setting) in done:
                    continue
                case = case or load_case(path)
                if args.only_folds and case["fold"] not in args.only_folds:
                    break
                fold = case["fold"]
                if setting in REFERENCE_ENGINES:  # the manual tools and the ceiling the clicks are compared with
                    engine = reference_engine(setting, case["truth"])
                else:
                    if fold not in engines:
                        engines[fold] = (
                            ClickEngine.from_file(fold_model_path(args.fold_click_models, fold))  # trained
                            if args.fold_click_models is not None
                            else ClickEngine(click_model_from_automatic(
                                load_model(fold_auto_model_path(args.fold_auto_models, fold))))
                        )
                    engine = engines[fold]
                    engine.grow = parse_rule(setting)
                    # --window-only: the network's own probabilities in its window; --own-prior: its own over the
                    # whole volume (the app's case when no Segment run lies behind the corrected map).
                    engine.set_prior(case["images"], None if args.window_only or args.own_prior else case["probabilities"])
                    if args.own_prior:
                        engine.own_prior(case["images"])
                start = np.zeros_like(case["start"]) if args.from_empty else case["start"]
                curve = robot_curve(engine, case["images"], start, case["truth"], args.clicks,
                                    case["spacing"], warm_up=False)
                for row in curve:
                    writer.writerow({"case": path.stem, "fold": fold, "setting": setting, "clicks": row["clicks"],
                                     **{r: f"{row[r]:.4f}" for r in REGIONS},
                                     "seconds": "" if row["seconds"] is None else f"{row['seconds']:.4f}"})
                fh.flush()
                last = curve[-1]
                print(f"{path.stem} {setting}: WT {curve[0]['WT']:.3f}->{last['WT']:.3f} TC {curve[0]['TC']:.3f}->"
                      f"{last['TC']:.3f} ET {curve[0]['ET']:.3f}->{last['ET']:.3f}", flush=True)
    return 0


def read_search(path: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """(case, setting) -> {"fold", "curve": {region: [Dice after 0..N clicks]}, "seconds": [...]}."""
    table: dict[tuple[str, str], dict[str, Any]] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            entry = table.setdefault((r["case"], r["setting"]), {"fold": int(r["fold"]), "curve": {g: [] for g in REGIONS},
                                                                  "seconds": []})
            for g in REGIONS:
                entry["curve"][g].append(float(r[g]))
            if r["seconds"]:
                entry["seconds"].append(float(r["seconds"]))
    return table


def robot_figures(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """brats-evaluate's summary (NoC, harm rate, seconds) of these curves, through its own functions."""
    from .interactive_eval import harmful, summarize

    cases = []
    for e in entries:
        n = len(e["curve"]["WT"])
        rows = []
        for k in range(n):
            row = {r: e["curve"][r][k] for r in REGIONS}
            seconds = e["seconds"][k - 1] if 0 < k <= len(e["seconds"]) else None
            rows.append({"clicks": k, **row, "seconds": seconds,
                         "harmful": bool(k and seconds is not None and harmful(rows[-1], row))})
        cases.append({"engine": "click", "curve": rows})
    return summarize(cases, len(cases[0]["curve"]) - 1)["click"]


def figures_line(entries: list[dict[str, Any]]) -> str:
    f = robot_figures(entries)
    return (f"NoC@90 WT {f['noc']['WT@90']['mean']:.2f} ({f['noc']['WT@90']['failures']} at cap), "
            f"NoC@85 TC {f['noc']['TC@85']['mean']:.2f}, NoC@85 ET {f['noc']['ET@85']['mean']:.2f}, "
            f"harm rate {f['harm_rate']:.1%} of {f['clicks_made']} clicks, "
            f"s per click p50 {f['seconds_p50']:.3f} / p95 {f['seconds_p95']:.3f}")


MAX_HARM = 0.05  # the harm rate a setting may have on the folds it is chosen on (the target)


def score(entries: list[dict[str, Any]]) -> float:
    """The mean over WT, TC, ET of the mean Dice gain after N clicks."""
    return float(np.mean([e["curve"][g][-1] - e["curve"][g][0] for e in entries for g in REGIONS]))


def choose(settings: list[str], entries_of) -> str:
    """The best :func:`score` among the settings whose harm rate is at most :data:`MAX_HARM`
    (the least harmful when none is), on the entries ``entries_of(setting)`` gives."""
    harm = {s: robot_figures(entries_of(s))["harm_rate"] for s in settings}
    safe = [s for s in settings if harm[s] <= MAX_HARM]
    if not safe:
        return min(settings, key=lambda s: harm[s])
    return max(safe, key=lambda s: score(entries_of(s)))


def select(args: argparse.Namespace) -> int:
    """Rotate over the folds: choose on the others, report the held-out fold with the choice."""
    table = read_search(args.cache / args.name)
    if args.grid:  # these settings, on the cases that have them all
        settings = sorted(args.grid)
        complete = sorted(c for c in {c for c, _ in table} if all((c, s) in table for s in settings))
    else:  # the settings every case has (a grid narrowed part-way through keeps what all cases share)
        complete = sorted({c for c, _ in table})
        settings = sorted(s for s in {s for _, s in table} if all((c, s) in table for c in complete))
    if not args.compare:  # the manual tools and the oracle are what a setting is compared with, not settings
        from .baseline_engines import REFERENCE_ENGINES

        settings = [s for s in settings if s not in REFERENCE_ENGINES]
    folds = sorted({table[(c, settings[0])]["fold"] for c in complete}) if not args.compare else []
    lines = [f"{len(complete)} cases with every setting; settings: {', '.join(settings)}", ""]
    if not args.compare:
        lines.append("| held-out fold | chosen on the other folds | its training score | held-out gain WT / TC / ET |")
        lines.append("|---|---|---|---|")
    held_out: list[dict[str, Any]] = []
    for f in folds:
        train = [c for c in complete if table[(c, settings[0])]["fold"] != f]
        test = [c for c in complete if table[(c, settings[0])]["fold"] == f]
        if not train or not test:
            continue
        best = choose(settings, lambda s: [table[(c, s)] for c in train])
        chosen = [table[(c, best)] for c in test]
        held_out += chosen
        gains = [np.mean([e["curve"][g][-1] - e["curve"][g][0] for e in chosen]) for g in REGIONS]
        lines.append(f"| {f} | {best} | {score([table[(c, best)] for c in train]):+.4f} | "
                     + " / ".join(f"{g:+.3f}" for g in gains) + " |")
    if held_out:
        mean = {g: np.mean([e["curve"][g] for e in held_out], axis=0) for g in REGIONS}
        lines += ["", f"Held-out (each fold with the setting chosen on the others), {len(held_out)} cases: "
                  + ", ".join(f"{g} {mean[g][0]:.3f} -> {mean[g][-1]:.3f} ({mean[g][-1] - mean[g][0]:+.3f})"
                              for g in REGIONS), "", figures_line(held_out)]
    lines += ["", "| setting | all cases: mean Dice gain WT / TC / ET | score | p95 s |", "|---|---|---|---|"]
    for s in settings:
        es = [table[(c, s)] for c in complete]
        gains = [np.mean([e["curve"][g][-1] - e["curve"][g][0] for e in es]) for g in REGIONS]
        secs = [x for e in es for x in e["seconds"]]
        lines.append(f"| {s} | " + " / ".join(f"{g:+.3f}" for g in gains) + f" | {score(es):+.4f} | "
                     f"{np.percentile(secs, 95) if secs else float('nan'):.3f} |")
    if not args.compare:
        final = choose(settings, lambda s: [table[(c, s)] for c in complete])
        lines += ["", f"Chosen on all {len(complete)} cases (what the engine ships): {final}"]
    lines += ["", "All cases per setting:"] + [f"- {s}: {figures_line([table[(c, s)] for c in complete])}" for s in settings]
    text = "\n".join(lines) + "\n"
    suffix = "-compare.md" if args.compare else "-select.md"
    (args.cache / (Path(args.name).stem + suffix)).write_text(text, encoding="utf-8")
    print(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.interactive_grow_cv", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("cache")
    c.add_argument("--data", type=Path, nargs="+", required=True)
    c.add_argument("--folds", type=Path, required=True)
    c.add_argument("--fold-auto-models", type=Path, required=True)
    c.add_argument("--ncr-definition", default="auto")
    c.add_argument("--out", type=Path, required=True)
    se = sub.add_parser("search")
    se.add_argument("--cache", type=Path, required=True)
    se.add_argument("--fold-auto-models", type=Path, required=True)
    se.add_argument("--clicks", type=int, default=10)
    se.add_argument("--grid", nargs="+", required=True, help="growth settings: none, m2r20, m3r30i0.8, ...")
    se.add_argument("--only-folds", type=int, nargs="*", default=[])
    se.add_argument("--fold-click-models", type=Path,
                    help="answer with RUN/fold-i/model.pt (a click model trained on the other folds, e.g. by "
                    "interactive_train --starts) instead of the untrained warm start of the fold's automatic model")
    priors = se.add_mutually_exclusive_group()
    priors.add_argument("--window-only", action="store_true",
                    help="do not give the engine the automatic model's probabilities: it grows clicks with the "
                    "network's own inside its window")
    priors.add_argument("--own-prior", action="store_true",
                    help="instead of the cached automatic probabilities, the engine's own over the whole volume "
                    "(ClickEngine.own_prior: the app's case when no Segment run lies behind the map)")
    se.add_argument("--from-empty", action="store_true",
                    help="the robot starts from an empty map (annotating from scratch) instead of the automatic result")
    se.add_argument("--name", default="search.csv", help="results file inside the cache folder (appended, resumable)")
    sl = sub.add_parser("select")
    sl.add_argument("--cache", type=Path, required=True)
    sl.add_argument("--name", default="search.csv")
    sl.add_argument("--grid", nargs="*", default=[], help="choose among these settings only (default: all shared)")
    sl.add_argument("--compare", action="store_true",
                    help="only the per-setting figures on the cases that have them all (baselines beside a rule)")
    args = p.parse_args(argv)
    return {"cache": cache, "search": search, "select": select}[args.command](args)


if __name__ == "__main__":
    raise SystemExit(main())
