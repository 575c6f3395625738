"""``brats-train``'s command line: options, the config they choose and ``--set key=value`` overrides."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

import torch

from brats_desktop.core.postprocessing import NCR_DEFINITIONS
from brats_desktop.core.preprocessing import PreprocessingSpec

from .configs import AugmentConfig, TrainConfig, get_config

REPO_ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="brats-train", description="Train the BraTS Desktop U-Net.")
    p.add_argument("--config", default="default", help="seed (the tutorial's recipe) or default")
    p.add_argument("--data", action="append", type=Path, help="folder of labelled patient folders (repeatable)")
    p.add_argument("--synthetic", nargs="?", type=int, const=-1, default=0,
                   help="add N synthetic cases (no N: the config's count); alone, trains with no data on disk")
    p.add_argument("--synthetic-seed", type=int, default=1000, help="seed of the first synthetic case")
    p.add_argument("--synthetic-shape", type=int, nargs=3, help="shape of synthetic volumes (default 240 240 155)")
    p.add_argument("--synthetic-cache", default=str(REPO_ROOT / "runs" / "synthetic-cache"),
                   help="folder caching generated synthetic cases ('' to disable)")
    p.add_argument("--split", type=Path, help="reuse a split.json instead of making one")
    p.add_argument("--out", type=Path, help="output folder (default runs/<config>-<time>)")
    p.add_argument("--resume", type=Path, help="last_state.pt of an interrupted run (its config is reused)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--samples-per-epoch", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--base-width", type=int)
    p.add_argument("--depth", type=int)
    p.add_argument("--context", type=int, help="neighbouring slices on each side (2.5-D)")
    p.add_argument("--modalities", help="comma-separated channel order, e.g. flair,t1ce")
    p.add_argument("--patch-size", type=int, nargs=2)
    p.add_argument("--seed", type=int)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="change any config field (JSON value; bare words are strings), e.g. loss=ce, augment=null, pre_context=0, "
                   "pre_resize=[128,128]; repeatable (ablations)")
    p.add_argument("--real-fraction", type=float, default=0.35,
                   help="share of each epoch's samples drawn from real cases when mixing with synthetic")
    p.add_argument("--max-steps", type=int, help="stop each epoch after this many steps (smoke tests)")
    p.add_argument("--time-limit", type=float, help="minutes: stop before exceeding, and anneal the LR by wall-clock")
    p.add_argument("--synthetic-val", type=int, default=4,
                   help="at most this many synthetic validation cases (the rest join the test set)")
    p.add_argument("--ncr-definition", choices=tuple(NCR_DEFINITIONS),
                   help="meaning of label 1 in the real training labels, stored in the checkpoint so the app can "
                   "convert (default: brats2013, NCR/NET as in BraTS 2013-2020; brats2021 for synthetic data only)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--no-amp", action="store_true", help="disable mixed precision (float16 on CUDA, bfloat16 on CPUs with native support)")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--val-batch-size", type=int, default=16)
    p.add_argument("--val-every", type=int, default=1, metavar="N",
                   help="validate every N epochs (0: never); with select_by=last validation only informs, "
                   "and cross-validation folds score their held-out patients afterwards anyway")
    p.add_argument("--name", help="model name stored in the checkpoint")
    p.add_argument("--export", type=Path, help="also write the best checkpoint here at the end")
    p.add_argument("--no-progress", action="store_true")
    return p.parse_args(argv)



def make_config(args: argparse.Namespace) -> TrainConfig:
    if args.resume is not None:
        state = torch.load(args.resume, map_location="cpu", weights_only=True)
        stored = json.loads(state["config_json"])
        base = get_config(stored["name"])
        stored["preprocessing"] = PreprocessingSpec.from_dict(stored["preprocessing"])
        if stored.get("augment") is not None:
            aug = stored["augment"]
            stored["augment"] = AugmentConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in aug.items()})
        tuples = ("modalities", "slice_range", "patch_size", "split_fractions", "synthetic_shape")
        for key in tuples:
            if stored.get(key) is not None:
                stored[key] = tuple(stored[key])
        if args.epochs is not None:  # the only change allowed on resume: train for longer
            stored["epochs"] = args.epochs
        return base.replace(**stored)
    config = get_config(args.config)
    changes: dict[str, Any] = {}
    for arg, key in (("epochs", "epochs"), ("batch_size", "batch_size"), ("samples_per_epoch", "samples_per_epoch"),
                     ("lr", "lr"), ("base_width", "base_width"), ("depth", "depth"), ("seed", "seed")):
        if getattr(args, arg) is not None:
            changes[key] = getattr(args, arg)
    if args.context is not None:
        changes["pre_context"] = args.context
    if args.modalities:
        changes["modalities"] = tuple(m.strip() for m in args.modalities.split(",") if m.strip())
    if args.patch_size:
        changes["patch_size"] = tuple(args.patch_size)
    if args.synthetic_shape:
        changes["synthetic_shape"] = tuple(args.synthetic_shape)
    changes.update(parse_overrides(args.overrides))
    try:
        return config.replace(**changes) if changes else config
    except ValueError as exc:  # e.g. aug_<field> on a config without augmentation
        raise SystemExit(f"brats-train: config {config.name!r}: {exc}") from None



def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs -> config changes; VALUE is JSON (bare words are strings), lists become tuples."""
    fields = {f.name for f in dataclasses.fields(TrainConfig)} - {"name", "preprocessing"}
    pre_fields = {f"pre_{f.name}" for f in dataclasses.fields(PreprocessingSpec)}
    aug_fields = {f"aug_{f.name}" for f in dataclasses.fields(AugmentConfig)}
    known = fields | pre_fields | aug_fields
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or key not in known:
            raise SystemExit(
                f"brats-train: --set {item!r}: expected KEY=VALUE with KEY one of {', '.join(sorted(known))}"
            )
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        if isinstance(value, list):
            value = tuple(value)
        if key == "augment" and value is not None:
            raise SystemExit("brats-train: --set augment accepts only null (no augmentation; aug_<field> changes one setting)")
        out[key] = value
    return out
