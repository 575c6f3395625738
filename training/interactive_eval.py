"""``brats-evaluate FOLDERS... --interactive N``: AI-assisted correction measured by the robot user.

Each labelled case starts from the automatic segmentation (the app's
:func:`models.runtime.predict_patient`, label 1 in the folder's own meaning as plain
``brats-evaluate`` scores it). The robot user (:mod:`brats_desktop.core.robot_user`)
then clicks N times, each click answered by an engine:

* ``click``: the click model (``ClickEngine``; the bundled one, ``--click-model PATH``,
  or per fold with ``--folds RUN/folds.json --fold-models DIR``: a patient of fold i is
  corrected by ``DIR/fold-i/model.pt``, the model that never saw it);

* ``brush``: one 3-D brush dab per click; ``region``: the 3-D region tool
  (:mod:`training.baseline_engines`), the manual tools the AI has to beat; ``oracle``: each
  click gives its whole error component the reference label (it reads the reference), the
  ceiling of N clicks under this robot.

With ``--folds F --fold-auto-models DIR`` the evaluation is out-of-fold from the start: a
patient of fold i starts from the automatic segmentation of ``DIR/fold-i/best.pt`` (an
automatic model's cross-validation, ``brats-train`` per fold) and, unless ``--fold-models``
names trained click models, is corrected by the untrained click model warm-started from
that same fold model (:func:`brats_desktop.interactive.network.click_model_from_automatic`,
what the bundled click model is of the bundled automatic model): no model saw the patient.

After every click Dice of WT / TC / ET is recorded (:func:`brats_desktop.core.metrics.dice_scores`).
Written to ``--out``:

* ``interactive-cases.csv``: one row per case, engine and click count (0 = the automatic result);
* ``interactive-curves.csv``: mean Dice per engine and click count;
* ``interactive-summary.csv`` and ``interactive.json``: per engine the gain after N clicks,
  NoC@85/90 (WT) and NoC@80/85 (TC, ET), the harm rate, p50 / p95 seconds per click;
* ``interactive.png``: the mean curves.

Definitions (the RITM / DeepEdit conventions):

* NoC@t of a case = the smallest k in 0..N with Dice >= t after k clicks; a case that never
  reaches t counts N (capped at N), and is also counted in ``failures`` ("cases at the cap").
* Harm rate = share of the clicks made that lower the Dice of some region (WT, TC or ET)
  by more than 0.01 from the previous click.
* No-guidance check: the engine is also asked once with no click at all; the largest
  change of a region's Dice that causes (``no_guidance_max_change``) should be 0.
* Seconds per click = wall time of the engine's ``refine`` (not the robot's choice), after
  one untimed warm-up call per engine (on copies of the images), so loading a model is not
  counted as a click. A case's first click may also prepare its images (the click model
  normalises them once per case): ``seconds_first_mean`` is that click's mean,
  ``seconds_p95_later`` the p95 of the clicks after it.
  When nothing is left to fix the robot stops clicking: later rows repeat the last Dice
  with no time, and count neither as clicks made nor for the harm rate.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from brats_desktop.core.metrics import dice_scores
from brats_desktop.core.robot_user import RobotUser

ENGINES = ("click", "brush", "region", "oracle")
REGIONS = ("WT", "TC", "ET")
NOC_THRESHOLDS: dict[str, tuple[float, ...]] = {"WT": (0.85, 0.90), "TC": (0.80, 0.85), "ET": (0.80, 0.85)}
HARM_DROP = 0.01
CASE_COLUMNS = ("case", "engine", "clicks", "dice_wt", "dice_tc", "dice_et", "seconds",
                "click_voxel", "click_label", "model", "ncr_definition")
CURVE_COLUMNS = ("engine", "clicks", "cases", "dice_wt", "dice_tc", "dice_et")
FOLD_MODEL = "model.pt"  # DIR/fold-i/model.pt: the layout of the click model's cross-validation
FOLD_AUTO_MODEL = "best.pt"  # DIR/fold-i/best.pt: the layout of brats-train runs, one per fold


class Engine(Protocol):
    """What the robot needs of an engine (the click model's interface; the baselines follow it)."""

    def refine(self, images: Mapping[str, np.ndarray], labels: np.ndarray, guidance: Sequence[Any],
               locked: np.ndarray | None = None) -> Any: ...


def noc_key(region: str, threshold: float) -> str:
    """``WT@90`` style name of a NoC figure."""
    return f"{region}@{round(threshold * 100)}"


def number_of_clicks(curve: Sequence[float], threshold: float) -> tuple[int, bool]:
    """(NoC, reached): the first click count whose Dice is >= ``threshold``; (N, False) when none is."""
    for k, value in enumerate(curve):
        if value >= threshold:
            return k, True
    return len(curve) - 1, False


def harmful(previous: Mapping[str, float], current: Mapping[str, float], drop: float = HARM_DROP) -> bool:
    """Whether a click lowered the Dice of some region by more than ``drop``."""
    return any(previous[r] - current[r] > drop for r in REGIONS)


def robot_curve(
    engine: Engine,
    images: Mapping[str, np.ndarray],
    start: np.ndarray,
    truth: np.ndarray,
    clicks: int,
    spacing: Sequence[float] = (1.0, 1.0, 1.0),
    warm_up: bool = False,
) -> list[dict[str, Any]]:
    """Dice WT/TC/ET after 0..``clicks`` robot clicks answered by ``engine``: one dict per click count.

    Each engine call gets the current labels and all clicks so far (cumulative guidance,
    as the app calls it). ``warm_up`` makes one untimed call first (a model's first run
    loads and compiles; that is not a click's answer time).
    """
    from brats_desktop.interactive.guidance import Click

    robot = RobotUser(truth, spacing)
    shown = start
    scores = dice_scores(shown, truth)
    # The engine's answer to no guidance at all: it must leave the automatic result as it is.
    untouched = dice_scores(engine.refine(images, start, [], None).labels, truth)
    rows = [{"clicks": 0, **{r: scores[r] for r in REGIONS}, "seconds": None, "click": None, "harmful": False,
             "no_guidance": {r: untouched[r] for r in REGIONS}}]
    guidance: list[Any] = []
    for k in range(1, clicks + 1):
        chosen = robot.click(shown)
        if chosen is None:  # nothing left to fix: the curve stays where it is
            rows.append({**{r: rows[-1][r] for r in REGIONS}, "clicks": k, "seconds": None, "click": None,
                         "harmful": False})
            continue
        guidance.append(Click(voxel=chosen.voxel, label=chosen.label))
        if warm_up and k == 1:  # on copies: an engine that prepares each case's images once still does so below
            engine.refine({m: a.copy() for m, a in images.items()}, shown, list(guidance), None)
        t0 = time.perf_counter()
        result = engine.refine(images, shown, list(guidance), None)
        seconds = time.perf_counter() - t0
        shown = result.labels
        scores = dice_scores(shown, truth)
        current = {r: scores[r] for r in REGIONS}
        rows.append({"clicks": k, **current, "seconds": seconds, "click": chosen,
                     "harmful": harmful(rows[-1], current)})
    return rows


def summarize(cases: Sequence[Mapping[str, Any]], clicks: int) -> dict[str, Any]:
    """Per engine: mean curves, gain, NoC (mean and cases at the cap), harm rate, p50/p95 seconds per click.

    ``cases`` are dicts with ``engine`` and ``curve`` (robot_curve's rows).
    """
    out: dict[str, Any] = {}
    for engine in dict.fromkeys(c["engine"] for c in cases):
        mine = [c for c in cases if c["engine"] == engine]
        curves = {r: np.array([[row[r] for row in c["curve"]] for c in mine], dtype=float) for r in REGIONS}
        mean = {r: [float(v) for v in curves[r].mean(axis=0)] for r in REGIONS}
        noc: dict[str, dict[str, float | int]] = {}
        for region, thresholds in NOC_THRESHOLDS.items():
            for t in thresholds:
                found = [number_of_clicks(list(curve), t) for curve in curves[region]]
                noc[noc_key(region, t)] = {"mean": float(np.mean([n for n, _ in found])),
                                           "failures": sum(1 for _, ok in found if not ok)}
        made = [row for c in mine for row in c["curve"][1:] if row["seconds"] is not None]
        seconds = np.array([row["seconds"] for row in made], dtype=float)
        firsts = [next(row["seconds"] for row in c["curve"][1:] if row["seconds"] is not None)
                  for c in mine if any(row["seconds"] is not None for row in c["curve"][1:])]
        later = [row["seconds"] for c in mine
                 for row in [r for r in c["curve"][1:] if r["seconds"] is not None][1:]]
        bad = sum(1 for row in made if row["harmful"])
        drift = [abs(c["curve"][0]["no_guidance"][r] - c["curve"][0][r]) for c in mine for r in REGIONS
                 if "no_guidance" in c["curve"][0]]
        out[engine] = {
            "cases": len(mine),
            "clicks": clicks,
            "mean_dice": mean,
            "gain": {r: mean[r][-1] - mean[r][0] for r in REGIONS},
            "noc": noc,
            "clicks_made": len(made),
            "harmful_clicks": bad,
            "harm_rate": bad / len(made) if made else 0.0,
            "seconds_p50": float(np.percentile(seconds, 50)) if made else None,
            "seconds_p95": float(np.percentile(seconds, 95)) if made else None,
            "seconds_first_mean": float(np.mean(firsts)) if firsts else None,
            "seconds_p95_later": float(np.percentile(later, 95)) if later else None,
            "no_guidance_max_change": max(drift) if drift else None,
            "models": sorted({str(c.get("model", "")) for c in mine}),
        }
    return out


def case_rows(case: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The per-click CSV rows of one case and engine."""
    rows = []
    for row in case["curve"]:
        click = row["click"]
        rows.append({
            "case": case["case"], "engine": case["engine"], "clicks": row["clicks"],
            "dice_wt": f"{row['WT']:.4f}", "dice_tc": f"{row['TC']:.4f}", "dice_et": f"{row['ET']:.4f}",
            "seconds": "" if row["seconds"] is None else f"{row['seconds']:.4f}",
            "click_voxel": "" if click is None else " ".join(map(str, click.voxel)),
            "click_label": "" if click is None else click.label,
            "model": case.get("model", ""), "ncr_definition": case.get("ncr_definition", ""),
        })
    return rows


def summary_rows(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per engine: Dice at 0 and N clicks, NoC, failures, harm rate and timing."""
    rows = []
    for engine, s in summary.items():
        row: dict[str, Any] = {"engine": engine, "cases": s["cases"], "clicks": s["clicks"]}
        for r in REGIONS:
            row[f"dice_{r.lower()}_0"] = round(s["mean_dice"][r][0], 4)
            row[f"dice_{r.lower()}_{s['clicks']}"] = round(s["mean_dice"][r][-1], 4)
            row[f"gain_{r.lower()}"] = round(s["gain"][r], 4)
        for key, value in s["noc"].items():
            name = key.lower().replace("@", "_")
            row[f"noc_{name}"] = round(value["mean"], 2)
            row[f"failures_{name}"] = value["failures"]
        row["harm_rate"] = round(s["harm_rate"], 4)
        for key in ("seconds_p50", "seconds_p95", "seconds_first_mean", "seconds_p95_later"):
            row[key] = None if s[key] is None else round(s[key], 4)
        row["no_guidance_max_change"] = s["no_guidance_max_change"]
        rows.append(row)
    return rows


def write_report(cases: Sequence[Mapping[str, Any]], clicks: int, out: Path, meta: Mapping[str, Any]) -> dict[str, Any]:
    """Write the CSVs, the JSON and the PNG into ``out``; returns the summary."""
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize(cases, clicks)
    _write_csv(out / "interactive-cases.csv", CASE_COLUMNS, [r for c in cases for r in case_rows(c)])
    curves = [{"engine": e, "clicks": k, "cases": s["cases"],
               **{f"dice_{r.lower()}": f"{s['mean_dice'][r][k]:.4f}" for r in REGIONS}}
              for e, s in summary.items() for k in range(clicks + 1)]
    _write_csv(out / "interactive-curves.csv", CURVE_COLUMNS, curves)
    rows = summary_rows(summary)
    _write_csv(out / "interactive-summary.csv", tuple(rows[0]) if rows else ("engine",), rows)
    payload = {**meta, "clicks": clicks, "noc_convention": "smallest k in 0..N with Dice >= t; N when never "
               "reached (those cases also counted as failures)", "harm_drop": HARM_DROP, "engines": summary,
               "cases": [{k: v for k, v in c.items() if k != "curve"}
                         | {"no_guidance": c["curve"][0].get("no_guidance"),
                            "curve": [{r: row[r] for r in ("clicks", *REGIONS, "seconds")} for row in c["curve"]]}
                         for c in cases]}
    (out / "interactive.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    from .plots import plot_click_curves

    plot_click_curves({e: s["mean_dice"] for e, s in summary.items()}, out / "interactive.png",
                      title=f"Robot user: mean Dice after k clicks, {len({c['case'] for c in cases})} case(s)")
    return summary


def _write_csv(path: Path, columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


# --------------------------------------------------------------------------- which click model for whom

def read_folds(path: Path) -> dict[str, int]:
    """Patient name -> fold index from a ``folds.json`` (training.folds' format)."""
    try:
        folds = json.loads(Path(path).read_text(encoding="utf-8"))["folds"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SystemExit(f"brats-evaluate: {path}: not a readable folds.json ({exc})") from None
    return {str(name): i for i, names in enumerate(folds) for name in names}


def fold_model_path(models: Path, fold: int) -> Path:
    """``models/fold-i/model.pt``: the click model that did not train on fold i."""
    path = Path(models) / f"fold-{fold}" / FOLD_MODEL
    if not path.is_file():
        raise SystemExit(f"brats-evaluate: {path}: no click model for fold {fold} (not trained yet?)")
    return path


def fold_auto_model_path(models: Path, fold: int) -> Path:
    """``models/fold-i/best.pt``: the automatic model that did not train on fold i."""
    path = Path(models) / f"fold-{fold}" / FOLD_AUTO_MODEL
    if not path.is_file():
        raise SystemExit(f"brats-evaluate: {path}: no automatic model for fold {fold} (not trained yet?)")
    return path


class AutoModels:
    """The automatic model that makes each patient's starting map: its fold's with ``--fold-auto-models``."""

    def __init__(self, default: Any, folds: Mapping[str, int], fold_auto_models: Path | None,
                 log: Callable[[str], None] = lambda s: None) -> None:
        self.default, self.folds, self.fold_auto_models, self.log = default, folds, fold_auto_models, log
        self._loaded: dict[str, Any] = {}

    def for_patient(self, name: str) -> tuple[Any, str]:
        """(loaded automatic model, its key): fold i's ``best.pt`` for a patient of fold i, else the default."""
        if self.fold_auto_models is None or name not in self.folds:
            if self.fold_auto_models is not None:
                self.log(f"{name} is in no fold of the folds file: starts from the automatic model given")
            return self.default, str(getattr(self.default, "path", None) or getattr(self.default, "name", "model"))
        path = fold_auto_model_path(self.fold_auto_models, self.folds[name])
        key = str(path)
        if key not in self._loaded:
            from models.checkpoint import ModelLoadError, load_model

            try:
                self._loaded[key] = load_model(path)  # fused, as the app runs it
            except ModelLoadError as exc:
                raise SystemExit(f"brats-evaluate: automatic model {path}: {exc}") from None
        return self._loaded[key], key


class ClickModels:
    """The click engine for each patient: its fold's model when folds are given, else one model for all.

    With ``fold_auto_models`` and no ``fold_models``, a patient of the folds is corrected by
    the untrained warm start of its fold's automatic model (``for_patient``'s ``auto``).
    """

    def __init__(self, device: str, model: Path | None = None, folds: Path | None = None,
                 fold_models: Path | None = None, log: Callable[[str], None] = lambda s: None,
                 fold_auto_models: Path | None = None) -> None:
        if folds is None and (fold_models is not None or fold_auto_models is not None):
            raise SystemExit("brats-evaluate: --fold-models and --fold-auto-models need --folds")
        if folds is not None and fold_models is None and fold_auto_models is None:
            raise SystemExit("brats-evaluate: --folds and --fold-models go together (or --folds with --fold-auto-models)")
        self.device, self.model, self.log = device, model, log
        self.folds = read_folds(folds) if folds is not None else {}
        self.fold_models = fold_models
        self.fold_auto_models = fold_auto_models
        self._loaded: dict[str, Any] = {}

    def for_patient(self, name: str, auto: tuple[Any, str] | None = None) -> tuple[Any, str]:
        """(engine, what it is): the fold model for a patient of the folds, else ``--click-model`` or the bundled one.

        ``auto`` = (the patient's fold automatic model, its key) when the click model is to be
        warm-started from it (``--fold-auto-models`` without ``--fold-models``).
        """
        if name in self.folds:
            if self.fold_models is not None:
                return self._load(fold_model_path(self.fold_models, self.folds[name]))
            assert auto is not None
            return self._warm_start(*auto)
        if self.folds:
            self.log(f"{name} is in no fold of the folds file: corrected by the final click model")
        return self._load(self.model)

    def _warm_start(self, auto: Any, key: str) -> tuple[Any, str]:
        from brats_desktop.interactive.engine import ClickEngine
        from brats_desktop.interactive.network import click_model_from_automatic

        name = f"warm-start:{key}"
        if name not in self._loaded:
            self._loaded[name] = ClickEngine(click_model_from_automatic(auto), device=self.device)
        return self._loaded[name], name

    def _load(self, path: Path | None) -> tuple[Any, str]:
        from brats_desktop.interactive.engine import ClickEngine

        from models.checkpoint import ModelLoadError

        key = str(path) if path is not None else "bundled"
        if key not in self._loaded:
            try:
                self._loaded[key] = ClickEngine.bundled(self.device) if path is None \
                    else ClickEngine.from_file(path, device=self.device)
            except (ModelLoadError, ValueError) as exc:  # unreadable, or not a click model
                raise SystemExit(f"brats-evaluate: click model {path or 'bundled'}: {exc}") from None
        return self._loaded[key], key


# --------------------------------------------------------------------------- the command line

def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``--interactive`` options of brats-evaluate."""
    g = parser.add_argument_group("AI-assisted correction (robot user)")
    g.add_argument("--interactive", type=int, metavar="N",
                   help="run the robot user for N clicks from the automatic result and report Dice after each")
    g.add_argument("--engine", nargs="+", choices=ENGINES, default=["click"],
                   help="what answers the clicks: click (the click model, default), brush (a 3-D dab of radius "
                   "3 voxels), region (the 3-D region tool), oracle (reads the reference: each click fixes its whole error "
                   "component, the ceiling of N clicks under this robot); several are run on the same automatic results")
    g.add_argument("--click-model", type=Path, metavar="PATH", help="click model file (default: the bundled one)")
    g.add_argument("--folds", type=Path, metavar="FOLDS_JSON",
                   help="out-of-fold: a cross-validation's folds.json (with --fold-models)")
    g.add_argument("--fold-models", type=Path, metavar="DIR",
                   help="a click-model cross-validation folder (fold-i/model.pt): the patients of fold i "
                   "are corrected by that model")
    g.add_argument("--click-grow", metavar="RULE",
                   help="how far a click grows (brats_desktop.interactive.grow): 'none' (the click model's answer "
                   "only) or a rule such as m2r20d1j0.75; default: the engine's (interactive.engine.GROW)")
    g.add_argument("--fold-auto-models", type=Path, metavar="DIR",
                   help="an automatic-model cross-validation folder (fold-i/best.pt): the patients of fold i "
                   "start from that model's segmentation and, without --fold-models, are corrected by the "
                   "untrained click model warm-started from it (out-of-fold from start to end)")


def run(args: argparse.Namespace, model: Any, folders: Sequence[Path], out: Path,
        log: Callable[[str], None]) -> int:
    """The interactive evaluation of ``folders``: automatic result, then the robot with each engine."""
    from brats_desktop.core.errors import PatientLoadError
    from brats_desktop.core.patient import load_patient
    from models.inference import MissingModalityError
    from models.runtime import predict_patient
    from models.tta import resolve_tta

    from .baseline_engines import reference_engine
    from brats_desktop.core.label_meaning import AUTO, resolve_ncr_definition

    if args.interactive < 0:
        raise SystemExit("brats-evaluate: --interactive needs a number of clicks >= 0")
    fold_auto = getattr(args, "fold_auto_models", None)
    grow = None
    if getattr(args, "click_grow", None) is not None:
        from brats_desktop.interactive.grow import GrowRule

        try:
            grow = GrowRule.parse(args.click_grow)
        except ValueError as exc:
            raise SystemExit(f"brats-evaluate: --click-grow: {exc}") from None
    clicks_models = ClickModels(args.device, args.click_model, args.folds, args.fold_models, log, fold_auto) \
        if "click" in args.engine else None
    if fold_auto is not None and args.folds is None:
        raise SystemExit("brats-evaluate: --fold-auto-models needs --folds")
    autos = AutoModels(model, read_folds(args.folds) if fold_auto is not None else {}, fold_auto, log)
    requested = None if args.ncr_definition == "raw" else args.ncr_definition
    tta = resolve_tta(args.tta, args.device)
    cases: list[dict[str, Any]] = []
    warmed: set[str] = set()
    for folder in folders:
        try:
            patient = load_patient(folder)
            definition, _ = resolve_ncr_definition(requested, patient)
            auto = autos.for_patient(patient.name)
            prediction = predict_patient(auto[0], patient, device=args.device, ncr_definition=definition, tta=tta)
            start = prediction.labels
        except (PatientLoadError, MissingModalityError) as exc:
            log(f"skipping {folder}: {exc}")
            continue
        assert patient.ground_truth is not None
        for name in args.engine:
            if name == "click":
                assert clicks_models is not None
                engine, which = clicks_models.for_patient(patient.name, auto)
                # As InteractiveSession does: clicks grow where the starting segmentation's model found their class plausible.
                if hasattr(engine, "set_prior"):
                    engine.set_prior(patient.images, prediction.probabilities)
                if grow is not None:
                    engine.grow = grow
            else:
                engine, which = reference_engine(name, patient.ground_truth), name
            curve = robot_curve(engine, patient.images, start, patient.ground_truth, args.interactive,
                                patient.spacing, warm_up=which not in warmed)
            warmed.add(which)
            cases.append({"case": patient.name, "engine": name, "model": which, "automatic_model": auto[1],
                          "ncr_definition": definition or "raw", "curve": curve})
            first, last = curve[0], curve[-1]
            log(f"{patient.name} [{name}]: Dice WT {first['WT']:.3f}->{last['WT']:.3f} "
                f"TC {first['TC']:.3f}->{last['TC']:.3f} ET {first['ET']:.3f}->{last['ET']:.3f} "
                f"after {args.interactive} click(s)")
    if not cases:
        log("no patient could be evaluated")
        return 1
    meta = {"automatic_model": getattr(model, "name", ""), "tta": tta, "ncr_definition": args.ncr_definition
            if requested != AUTO else "auto (per folder)", "folds": str(args.folds) if args.folds else None,
            "fold_models": str(args.fold_models) if args.fold_models else None,
            "fold_auto_models": str(fold_auto) if fold_auto else None,
            "click_grow": args.click_grow if getattr(args, "click_grow", None) else _default_grow()}
    summary = write_report(cases, args.interactive, out, meta)
    for engine, s in summary.items():
        noc = " ".join(f"NoC {k} {v['mean']:.1f} ({v['failures']} at cap)" for k, v in s["noc"].items())
        p95 = "-" if s["seconds_p95"] is None else f"{s['seconds_p95']:.3f}"
        log(f"{engine} over {s['cases']} case(s): Dice WT {s['mean_dice']['WT'][0]:.3f}->{s['mean_dice']['WT'][-1]:.3f} "
            f"TC {s['mean_dice']['TC'][0]:.3f}->{s['mean_dice']['TC'][-1]:.3f} "
            f"ET {s['mean_dice']['ET'][0]:.3f}->{s['mean_dice']['ET'][-1]:.3f}; {noc}; "
            f"harm rate {s['harm_rate']:.1%}; p95 {p95} s per click")
    log(f"wrote {out / 'interactive-cases.csv'}, interactive-curves.csv, interactive-summary.csv, "
        f"interactive.json and interactive.png")
    return 0


def _default_grow() -> str:
    from brats_desktop.interactive.engine import GROW

    return GROW.notation()
