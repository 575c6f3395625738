"""Train the click model by simulated users, warm-started from the bundled automatic model.

One run (a fold, or the final model on every patient)::

    nice -n 10 python -m training.interactive_train --data ../shared/data/brats2013-train \\
        --data ../shared/data/brats2018-train [--split runs/click-cv/fold-0/split.json] \\
        --out runs/click-cv/fold-0 --minutes 11 --threads 1

With ``--starts CACHE --auto-model runs/acc-axial/fold-i/best.pt`` (an
``interactive_grow_cv cache`` folder; the crops are then cached in ``runs/click-cache-oof``)
the user corrects each patient's out-of-fold segmentation and the network is
warm-started from the fold's automatic model, so training sees the errors of new patients.

A training sample is a window (``--window`` square x 7 axial slices, plus one context
slice each side) around a tumour voxel. The user starts from the automatic prediction
(computed once per patient by the bundled model and cached), a perturbed reference or
nothing, and corrects it: 0-3 rounds without gradients (click where it is most wrong,
re-run the network on the window, force the clicked voxels), then one more click and a
gradient step. Loss: Dice + CE on the window's slices plus CE on the drawn guidance.
The learning rate follows a cosine over ``--minutes`` of wall time; the state is saved
every ``--save-every`` minutes (``--resume``), the model file at the end (``model.pt``
in the bundled format, loaded with ``weights_only``).

Validation (``val.csv``): fixed windows of the split's validation patients, the robot
clicks 3 times; mean window Dice of WT/TC/ET before and after, at the start (the
warm-started model) and at every save, so the curve shows whether clicks are learned.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from brats_desktop.core.labels import REGIONS
from brats_desktop.core.preprocessing import brain_mask, normalise
from brats_desktop.interactive import guidance as G
from brats_desktop.interactive.local import connected_changes, near
from brats_desktop.interactive.network import assemble_inputs, interactive_spec, warm_start

from . import interactive_sim as sim
from .cohort import HELD_OUT_NAMES, load_real_case, real_patient_folders
from .split import Split

SLICES = 7  # predicted slices per window (the engine re-runs the clicked slice +- 3)
MARGIN_XY = 40
MARGIN_Z = 6


@dataclass
class ClickCase:
    """One patient cut to its tumour's neighbourhood: normalised images, reference, automatic prediction."""

    name: str
    images: np.ndarray  # (M, X, Y, Z) float16
    gt: np.ndarray  # (X, Y, Z) uint8
    auto: np.ndarray  # (X, Y, Z) uint8


def prepare_click_case(folder: Path, auto_model, cache_dir: Path, window: int,
                       starts: Path | None = None) -> ClickCase:
    """Read, normalise as inference does, predict with ``auto_model`` once, crop around the tumour; cached.

    ``starts``: a folder of ``training.interactive_grow_cv cache`` files whose ``start`` (the
    segmentation of the automatic model of the fold that never saw the patient) replaces that
    prediction, so the simulated user corrects the errors a new patient has, not the smaller
    errors of a model on its own training patients.
    """
    cache = cache_dir / f"{folder.name}.npz"
    if cache.exists():
        with np.load(cache) as z:
            return ClickCase(folder.name, z["images"], z["gt"], z["auto"])
    from models.inference import postprocess_prediction, predict_volume
    from models.runtime import uses_amp

    modalities = auto_model.modalities
    case = load_real_case(folder, modalities)
    if starts is not None:
        with np.load(starts / f"{folder.name}.npz") as z:
            auto = z["start"].astype(np.uint8)
    else:
        auto = postprocess_prediction(
            auto_model, predict_volume(auto_model, case.images, batch_size=8, amp=uses_amp("cpu")), "brats2013"
        )
    spec_pre = auto_model.metadata["preprocessing"]
    from brats_desktop.core.preprocessing import PreprocessingSpec

    vols = [case.images[m] for m in modalities]
    norm = normalise(vols, PreprocessingSpec.from_dict(spec_pre), brain_mask(vols))
    tumour = (case.labels > 0) | (auto > 0)
    box = []
    for axis in range(3):
        other = tuple(a for a in range(3) if a != axis)
        hits = np.flatnonzero(tumour.any(axis=other))
        m = MARGIN_Z if axis == 2 else MARGIN_XY
        n = tumour.shape[axis]
        lo, hi = max(int(hits[0]) - m, 0), min(int(hits[-1]) + 1 + m, n)
        want = window if axis < 2 else SLICES + 2
        if hi - lo < want:  # grow to at least one window where the grid allows
            lo = max(min(lo, n - want), 0)
            hi = min(lo + want, n)
        box.append(slice(lo, hi))
    box_t = tuple(box)
    images = np.stack([v[box_t] for v in norm]).astype(np.float16)
    out = ClickCase(folder.name, images, case.labels[box_t].astype(np.uint8), auto[box_t].astype(np.uint8))
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(cache.stem + ".partial.npz")
    np.savez_compressed(tmp, images=out.images, gt=out.gt, auto=out.auto)
    tmp.replace(cache)
    return out


def cut_window(case: ClickCase, rng: np.random.Generator, window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images float32 (M, W, W, S+2), gt, auto) of a window centred near a random tumour voxel, padded if needed."""
    src = case.gt if rng.random() < 0.8 or not case.auto.any() else case.auto
    pts = np.argwhere(src > 0)
    if not len(pts):
        pts = np.argwhere(np.ones_like(src, dtype=bool))
    c = pts[rng.integers(len(pts))] + rng.integers(-window // 4, window // 4 + 1, size=3) * np.array([1, 1, 0])
    size = (window, window, SLICES + 2)
    starts = [int(np.clip(c[a] - size[a] // 2, 0, max(case.gt.shape[a] - size[a], 0))) for a in range(3)]
    sl = tuple(slice(s, s + n) for s, n in zip(starts, size))
    img = case.images[(slice(None), *sl)].astype(np.float32)
    gt, auto = case.gt[sl], case.auto[sl]
    pad = [(0, size[a] - gt.shape[a]) for a in range(3)]
    if any(p[1] for p in pad):
        img = np.pad(img, [(0, 0), *pad])
        gt, auto = np.pad(gt, pad), np.pad(auto, pad)
    return img, gt, auto


def augment(img: np.ndarray, gt: np.ndarray, auto: np.ndarray, rng: np.random.Generator):
    """Left-right / front-back flips and per-modality intensity jitter inside the brain."""
    if rng.random() < 0.5:
        img, gt, auto = img[:, ::-1], gt[::-1], auto[::-1]
    if rng.random() < 0.2:
        img, gt, auto = img[:, :, ::-1], gt[:, ::-1], auto[:, ::-1]
    img = np.ascontiguousarray(img)
    brain = img != 0
    for m in range(img.shape[0]):
        img[m] = np.where(brain[m], img[m] * rng.uniform(0.85, 1.15) + rng.uniform(-0.2, 0.2), 0.0)
    return img, np.ascontiguousarray(gt), np.ascontiguousarray(auto)


def predict_window(net, img: np.ndarray, labels: np.ndarray, guid: np.ndarray, zs: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(assemble_inputs(img, labels, guid, zs))
    return net(x)


def simulate(net, img, gt, start, rng, rounds: int, guidance: list, used: set) -> np.ndarray:
    """``rounds`` corrective clicks, each followed by a no-gradient re-run of the window (as the engine would)."""
    pred = start.copy()
    zs = np.arange(1, SLICES + 1)
    allowed = np.zeros(gt.shape, dtype=bool)
    allowed[:, :, 1 : SLICES + 1] = True
    for _ in range(rounds):
        item = sim.corrective_click(pred, gt, rng, used, allowed)
        if item is None:
            break
        guidance.append(item)
        guid = G.rasterise(guidance, (0, 0, 0), gt.shape)
        with torch.no_grad():
            logits = predict_window(net, img, pred, guid, zs)
        pred[:, :, 1 : SLICES + 1] = logits.argmax(1).numpy().astype(np.uint8).transpose(1, 2, 0)
        G.force_guided(pred, guidance)
    return pred


def window_dice(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    out = {}
    for region, classes in REGIONS.items():
        p, g = np.isin(pred, classes), np.isin(gt, classes)
        s = p.sum() + g.sum()
        out[region] = 1.0 if s == 0 else float(2 * (p & g).sum() / s)
    return out


def robot_window(net, img: np.ndarray, gt: np.ndarray, start: np.ndarray, clicks: int, local: bool,
                 reach: float | None = None) -> np.ndarray:
    """The evaluation's robot on one window: ``clicks`` times, click the deepest point of the largest error,
    re-run the window; with ``local`` keep only changes connected to that click, as the engine does."""
    pred = start.copy()
    guidance: list = []
    used: set = set()
    zs = np.arange(1, SLICES + 1)
    allowed = np.zeros(gt.shape, dtype=bool)
    allowed[:, :, 1 : SLICES + 1] = True
    for _ in range(clicks):
        found = sim.largest_error(pred, gt, allowed)
        point = None if found is None else sim.deepest_point(found[0], used=used)
        if point is None:
            break
        used.add(point)
        guidance.append(G.Click(point, found[1]))
        guid = G.rasterise(guidance, (0, 0, 0), gt.shape)
        with torch.no_grad():
            logits = predict_window(net, img, pred, guid, zs)
        new = pred.copy()
        new[:, :, 1:-1] = logits.argmax(1).numpy().astype(np.uint8).transpose(1, 2, 0)
        if local:
            within = None if reach is None else near(G.exact_voxels(guidance[-1]), gt.shape, reach)
            keep = connected_changes(pred, new, G.rasterise(guidance[-1:], (0, 0, 0), gt.shape).sum(0) > 0, within)
            pred[keep] = new[keep]
        else:
            pred = new
        G.force_guided(pred, guidance)
    return pred


def validate(net, cases: list[ClickCase], window: int, n_windows: int = 16, clicks: int = 3) -> dict[str, float]:
    """Mean window Dice before and after ``clicks`` robot clicks from the automatic prediction (fixed windows),
    accepting every change in the window (``after``) or only those connected to the click (``local``)."""
    if not cases:
        return {}
    net.eval()
    rows = []
    for i in range(n_windows):
        rng = np.random.default_rng([7, i])
        img, gt, auto = cut_window(cases[i % len(cases)], rng, window)
        inner = (slice(None), slice(None), slice(1, -1))
        row = list(window_dice(auto[inner], gt[inner]).values())
        for local in (False, True):
            row += list(window_dice(robot_window(net, img, gt, auto, clicks, local)[inner], gt[inner]).values())
        rows.append(row)
    m = np.mean(rows, axis=0)
    keys = [f"{k}_{r}" for k in ("before", "after", "local") for r in REGIONS]
    return {k: round(float(v), 4) for k, v in zip(keys, m)}


def train_step(net, opt, case: ClickCase, rng: np.random.Generator, window: int, click_weight: float,
               guard: "FirstLayerGuard | None" = None, p_auto: float = 0.85,
               p_perturbed: float = 0.1) -> dict[str, float]:
    img, gt, auto = augment(*cut_window(case, rng, window), rng)
    start, kind = sim.starting_mask(gt, auto, rng, p_auto, p_perturbed)
    guidance: list = []
    used: set = set()
    net.eval()  # dropout off while the simulated user looks at the network's answers
    pred = simulate(net, img, gt, start, rng, int(rng.integers(0, 4)), guidance, used)
    allowed = np.zeros(gt.shape, dtype=bool)
    allowed[:, :, 1 : SLICES + 1] = True
    if rng.random() < 0.1 and (pred == gt).any():  # a confirming click: guidance that agrees must not move things
        pts = np.argwhere((pred == gt) & allowed)
        v = tuple(int(c) for c in pts[rng.integers(len(pts))])
        guidance.append(G.Click(v, int(gt[v])))
    item = sim.corrective_click(pred, gt, rng, used, allowed)
    if item is not None:
        guidance.append(item)
    guid = G.rasterise(guidance, (0, 0, 0), gt.shape)
    zs = np.arange(1, SLICES + 1)
    net.train()
    logits = predict_window(net, img, pred, guid, zs)
    target = torch.from_numpy(gt[:, :, 1:-1].transpose(2, 0, 1).astype(np.int64))
    loss = window_loss(logits, target)
    drawn = torch.from_numpy(guid[:, :, :, 1:-1].sum(0).transpose(2, 0, 1) > 0)
    if drawn.any():
        ce = F.cross_entropy(logits, target, reduction="none")
        loss = loss + click_weight * ce[drawn].mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
    if guard is not None:
        guard.before()
    opt.step()
    if guard is not None:
        guard.after()
    return {"loss": float(loss.detach()), "clicks": len(guidance), "start": kind}


def window_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """CE + soft Dice of the tumour classes present in the window's reference.

    A class absent from a small window would otherwise cost a full Dice point for any
    stray probability mass, which teaches the network more about window edges than clicks.
    """
    probs = torch.softmax(logits, dim=1)
    onehot = F.one_hot(target, 4).permute(0, 3, 1, 2).float()
    dims = (0, 2, 3)
    inter = (probs * onehot).sum(dims)
    denom = probs.sum(dims) + onehot.sum(dims)
    present = onehot.sum(dims)[1:] > 0
    dice = (2 * inter[1:] + 1.0) / (denom[1:] + 1.0)
    dice_loss = (1 - dice[present]).mean() if present.any() else logits.new_zeros(())
    return F.cross_entropy(logits, target) + dice_loss


class FirstLayerGuard:
    """Scale the optimiser's step on the first layer's automatic-model channels (and bias) by ``scale``.

    Adam normalises gradients element by element, so a smaller gradient would not mean a
    smaller step; shrinking the step itself is what keeps the pretrained filters close.
    """

    def __init__(self, net, n_auto: int, scale: float) -> None:
        self.weight, self.bias = net.down[0][0].weight, net.down[0][0].bias
        self.n_auto, self.scale = n_auto, scale
        self._w = self._b = None

    def before(self) -> None:
        self._w = self.weight.detach()[:, : self.n_auto].clone()
        self._b = self.bias.detach().clone()

    def after(self) -> None:
        with torch.no_grad():
            w = self.weight[:, : self.n_auto]
            w.copy_(self._w + self.scale * (w - self._w))
            self.bias.copy_(self._b + self.scale * (self.bias - self._b))


def save_state(path: Path, net, opt, step: int, elapsed: float) -> None:
    tmp = path.with_name(path.name + ".partial")
    torch.save({"model": net.state_dict(), "opt": opt.state_dict(), "step": step, "elapsed": elapsed}, tmp)
    tmp.replace(path)


def model_metadata(auto, arch: dict, args, train_names: list[str], step: int, elapsed: float, val: dict) -> dict:
    meta = {
        "name": "click-unet2d-flair-t1ce",
        "modalities": auto.modalities,
        "classes": auto.metadata["classes"],
        "label_convention": auto.metadata["label_convention"],
        "ncr_definition": auto.metadata.get("ncr_definition", "brats2013"),
        "preprocessing": auto.metadata["preprocessing"],
        "architecture": {"type": "unet2d", **arch},
        "interactive": {**interactive_spec(int(auto.metadata["preprocessing"].get("context", 1))),
                        "slices_each_side": SLICES // 2, "window": args.window},
        "training": {
            "command": "python -m training.interactive_train " + " ".join(args.argv),
            "warm_start": auto.name,
            "real_train": sorted(train_names),
            "steps": step,
            "minutes": round(elapsed / 60, 2),
            "torch": torch.__version__,
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
        "metrics": {"validation_windows": val},
        "licence": auto.metadata.get("licence", ""),
    }
    return meta


def main(argv: list[str] | None = None) -> int:
    import sys

    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(prog="python -m training.interactive_train", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, action="append", required=True)
    p.add_argument("--split", type=Path, help="train on its 'train' patients, validate on 'val' (default: all, no validation)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--cache", type=Path, help="crops + starting maps, one file per patient (default: runs/click-cache, "
                   "or runs/click-cache-oof with --starts, so the two kinds of start never share a file)")
    p.add_argument("--auto-model", type=Path, help="automatic model to warm-start from (default: the bundled one)")
    p.add_argument("--starts", type=Path, help="out-of-fold starting segmentations (an interactive_grow_cv cache "
                   "folder) instead of the automatic model's own")
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--window", type=int, default=96)
    p.add_argument("--lr", type=float, default=2e-5, help="learning rate of the pretrained layers")
    p.add_argument("--first-lr", type=float, default=5e-4, help="learning rate of the new channels' first-layer weights")
    p.add_argument("--keep", type=float, default=4.0, help="initial shortcut weight: current label -> its logit")
    p.add_argument("--follow", type=float, default=4.0, help="initial shortcut weight: guidance -> its label's logit")
    p.add_argument("--p-auto", type=float, default=0.85, help="share of samples starting from the automatic prediction")
    p.add_argument("--p-perturbed", type=float, default=0.1, help="share starting from a perturbed reference")
    p.add_argument("--prior-lr", type=float, default=1e-2, help="learning rate of the labels/guidance shortcut")
    p.add_argument("--click-weight", type=float, default=1.0)
    p.add_argument("--save-every", type=float, default=3.0, help="minutes between saved states")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--prepare-only", action="store_true", help="fill the cache and stop")
    args = p.parse_args(argv)
    args.argv = argv
    if args.cache is None:
        args.cache = Path("runs/click-cache-oof" if args.starts is not None else "runs/click-cache")
    torch.set_num_threads(args.threads)
    from models.checkpoint import default_model_path, load_model, save_model

    auto = load_model(args.auto_model or default_model_path(), fuse=True)
    folders = real_patient_folders(args.data)
    folders = [f for f in folders if f.name not in HELD_OUT_NAMES]
    split = Split.load(args.split) if args.split else None
    train_names = split.train if split else [f.name for f in folders]
    val_names = split.val if split else []
    by_name = {f.name: f for f in folders}
    args.out.mkdir(parents=True, exist_ok=True)
    log = open(args.out / "train.log", "a", encoding="utf-8")

    def say(text: str) -> None:
        log.write(f"{time.strftime('%H:%M:%S')} {text}\n")
        log.flush()

    t0 = time.time()
    cases = [prepare_click_case(by_name[n], auto, args.cache, args.window, args.starts) for n in sorted(train_names)]
    val_cases = [prepare_click_case(by_name[n], auto, args.cache, args.window, args.starts) for n in sorted(val_names)]
    say(f"prepared {len(cases)} train / {len(val_cases)} val cases in {time.time() - t0:.0f} s")
    if args.prepare_only:
        return 0

    net, arch = warm_start(auto, keep=args.keep, follow=args.follow)
    # The shortcut's 52 weights (prev labels and guidance -> logits) learn fast and are
    # what makes the model keep the current map and follow clicks from the first minutes.
    # The first layer learns at --first-lr, but its automatic-model channels move only
    # --lr / --first-lr as far per step (see first_layer_guard), so the pretrained
    # features are fine-tuned gently while the new channels' weights grow quickly.
    first = [net.down[0][0].weight, net.down[0][0].bias]
    special = {"prior.weight", "down.0.0.weight", "down.0.0.bias"}
    rest = [p for n, p in net.named_parameters() if n not in special]
    opt = torch.optim.AdamW([{"params": rest, "lr": args.lr, "base_lr": args.lr},
                             {"params": first, "lr": args.first_lr, "base_lr": args.first_lr},
                             {"params": [net.prior.weight], "lr": args.prior_lr, "base_lr": args.prior_lr,
                              "weight_decay": 0.0}],
                            weight_decay=1e-4)
    guard = FirstLayerGuard(net, n_auto=int(auto.metadata["architecture"]["in_channels"]),
                            scale=args.lr / args.first_lr)
    state_path = args.out / "last_state.pt"
    step, elapsed = 0, 0.0
    if args.resume and state_path.exists():
        state = torch.load(state_path, map_location="cpu", weights_only=True)
        net.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step, elapsed = int(state["step"]), float(state["elapsed"])
        say(f"resumed at step {step}, {elapsed / 60:.1f} min")
    hist_path, val_path = args.out / "history.csv", args.out / "val.csv"
    new_hist = not hist_path.exists()
    hist = open(hist_path, "a", newline="", encoding="utf-8")
    hw = csv.writer(hist)
    if new_hist:
        hw.writerow(["step", "minutes", "lr", "loss", "clicks"])
    val_rows: list[dict] = []

    def run_val() -> dict:
        v = validate(net, val_cases, args.window)
        if v:
            row = {"step": step, "minutes": round(elapsed / 60, 2), **v}
            first = not val_path.exists()
            with open(val_path, "a", newline="", encoding="utf-8") as fh:
                w = csv.DictWriter(fh, fieldnames=list(row))
                if first:
                    w.writeheader()
                w.writerow(row)
            say(f"val {row}")
            val_rows.append(row)
        return v

    if step == 0:
        run_val()
    limit = args.minutes * 60
    last_save = time.time()
    start = time.time() - elapsed
    losses: list[float] = []
    clicks: list[int] = []
    while elapsed < limit:
        factor = 0.5 * (1 + math.cos(math.pi * min(elapsed / limit, 1.0)))
        lr = args.lr * factor
        for group in opt.param_groups:
            group["lr"] = group["base_lr"] * factor
        rng = np.random.default_rng([args.seed, step])
        case = cases[int(rng.integers(len(cases)))]
        out = train_step(net, opt, case, rng, args.window, args.click_weight, guard, args.p_auto, args.p_perturbed)
        losses.append(out["loss"])
        clicks.append(out["clicks"])
        step += 1
        elapsed = time.time() - start
        if step % 25 == 0:
            hw.writerow([step, round(elapsed / 60, 3), f"{lr:.2e}", round(float(np.mean(losses)), 4),
                         round(float(np.mean(clicks)), 2)])
            hist.flush()
            losses, clicks = [], []
        if time.time() - last_save > args.save_every * 60:
            save_state(state_path, net, opt, step, elapsed)
            last_save = time.time()
            run_val()
            start = time.time() - elapsed  # validation time does not count as training
    save_state(state_path, net, opt, step, elapsed)
    v = run_val()
    net.eval()
    save_model(args.out / "model.pt", net, model_metadata(auto, arch, args, train_names, step, elapsed, v))
    (args.out / "done").write_text(json.dumps({"steps": step, "minutes": elapsed / 60}) + "\n", encoding="utf-8")
    say(f"done: {step} steps in {elapsed / 60:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
