"""``brats-train``: train the U-Net on real cohorts and/or the synthetic cohort.

Examples::

    brats-train --synthetic                      # no data on disk: synthetic cohort only
    brats-train --config seed --data /data/MICCAI_BraTS2020_TrainingData
    brats-train --data ../shared/data/brats2013-train --synthetic 24 --out runs/bundled
    torchrun --nproc_per_node 4 -m training.train --data ...   # DistributedDataParallel
    brats-train --resume runs/bundled/last_state.pt

Files in ``--out``: ``config.json``, ``split.json`` (patient level), ``history.csv`` (one
row per epoch), ``curves.png``, ``best.pt`` (+ ``best.json``; best validation Dice, or
loss for the tutorial's config) and ``last_state.pt`` (everything needed to resume).

The loop is small hooks (``train_step``, ``train_epoch``, ``validate``) so each can be
tested on CPU (``training.trainer``); the command line is ``training.train_args``, what a run
writes about itself ``training.run_record``, ranks and devices ``training.distributed``.
Distributed runs use PyTorch's own launcher: ``torchrun`` sets the ``env://`` variables,
each process takes a ``DistributedSampler`` shard of the epoch's samples, and only rank 0
validates and writes files.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from brats_desktop.core.atomic import remove_stale_partials
from brats_desktop.core.crashpoints import crash_point
from brats_desktop.core.errors import PatientLoadError
from models.checkpoint import save_model, save_torch_atomically
from models.unet import count_parameters

from .cohort import Case, load_real_case, real_patient_folders, synthetic_case
from .configs import TrainConfig
from .data import prepare_case
from .progress import format_seconds
from .split import Split, split_patients
from .distributed import Dist, choose_device, init_distributed
from .run_record import (
    HISTORY_COLUMNS, git_revision, model_metadata, real_data_licence, write_history, write_text_atomically,
)
from .train_args import make_config, parse_args
from .trainer import Trainer

# The pieces of a run live beside this module; these names are its public face too.
__all__ = ["HISTORY_COLUMNS", "Dist", "Trainer", "build_cohort", "main", "make_config", "parse_args",
           "real_data_licence"]
from .validation import validate

REPO_ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- cohort


@dataclass
class Cohort:
    train: list[Case]
    val: list[Case]
    split: Split
    description: dict[str, Any] = field(default_factory=dict)


def build_cohort(args: argparse.Namespace, config: TrainConfig, out: Path, log) -> Cohort:
    """Real folders + synthetic cases, split by patient (real and synthetic separately), split saved."""
    real_folders = real_patient_folders(args.data) if args.data else []
    n_syn = config.synthetic_cases if args.synthetic == -1 else int(args.synthetic or 0)
    syn_names = {f"synthetic-{args.synthetic_seed + i:05d}": args.synthetic_seed + i for i in range(n_syn)}
    if not real_folders and not syn_names:
        raise SystemExit("brats-train: no data: give --data DIR and/or --synthetic [N]")

    def synthetic_split() -> Split:
        syn = split_patients(sorted(syn_names), config.seed, config.split_fractions)
        if args.synthetic_val is not None:  # validation time is per case: cap the synthetic ones
            syn = Split(syn.train, syn.val[: args.synthetic_val], sorted(syn.test + syn.val[args.synthetic_val :]), syn.seed)
        return syn

    parts: list[Split] = []
    if args.split:
        parts.append(Split.load(args.split))
        named = set(parts[0].train + parts[0].val + parts[0].test)
        if syn_names and not named & set(syn_names):
            # A split of real patients only (a cross-validation fold, the final all-patient
            # model): the synthetic cohort asked for joins it, split as it would be without one.
            parts.append(synthetic_split())
    else:
        if real_folders:
            parts.append(split_patients([f.name for f in real_folders], config.seed, config.split_fractions))
        if syn_names:
            parts.append(synthetic_split())
    split = Split(
        sorted(n for p in parts for n in p.train),
        sorted(n for p in parts for n in p.val),
        sorted(n for p in parts for n in p.test),
        parts[0].seed,
    )
    by_name_real = {f.name: f for f in real_folders}
    cache = Path(args.synthetic_cache) if args.synthetic_cache else None

    skipped: list[dict[str, str]] = []

    def load(name: str) -> Case | None:
        if name in by_name_real:
            try:
                return load_real_case(by_name_real[name], config.modalities, config.modality_dropout > 0)
            except PatientLoadError as exc:  # one damaged download must not end a long run
                log(f"skipping {name}: {exc}")
                skipped.append({"case": name, "file": str(exc.path or by_name_real[name]), "problem": exc.problem})
                return None
        if name in syn_names:
            return synthetic_case(syn_names[name], config.modalities, config.synthetic_shape, cache)
        raise SystemExit(f"brats-train: split names patient {name!r}, which is not in the given data")

    t0 = time.perf_counter()
    train = [c for c in map(load, split.train) if c is not None]
    val = [c for c in map(load, split.val) if c is not None]
    if not train:
        raise SystemExit("brats-train: no case left to train on"
                         + (f": {len(skipped)} case(s) could not be read (listed above)" if skipped else ""))
    log(f"loaded {len(train)} training and {len(val)} validation cases in {time.perf_counter() - t0:.0f} s")
    description = {
        "real_roots": [str(Path(p).resolve()) for p in (args.data or [])],
        "real_train": [c.name for c in train if c.source == "real"],
        "real_val": [c.name for c in val if c.source == "real"],
        "synthetic_train": sum(c.source == "synthetic" for c in train),
        "synthetic_val": sum(c.source == "synthetic" for c in val),
        "synthetic_shape": list(config.synthetic_shape),
        "synthetic_first_seed": args.synthetic_seed,
        "test_held_out": split.test,
        "skipped": skipped,
    }
    split.save(out / "split.json")
    return Cohort(train, val, split, description)


# --------------------------------------------------------------------------- the run


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    config = make_config(args)
    if args.val_every != 1 and config.select_by != "last":  # refused before any data is read
        raise SystemExit("brats-train: --val-every other than 1 needs --set select_by=last "
                         "(the best checkpoint is chosen by validation every epoch)")
    device_kind = "cuda" if (args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())) else "cpu"
    d = init_distributed(device_kind)
    device = choose_device(args.device, d)
    out = args.out or (args.resume.parent if args.resume else REPO_ROOT / "runs" / f"{config.name}-{_dt.datetime.now():%Y%m%d-%H%M%S}")
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(out)  # what a killed run was writing

    def log(msg: str) -> None:
        if d.main:
            print(f"[{_dt.datetime.now():%H:%M:%S}] {msg}", file=sys.stderr, flush=True)

    try:
        cohort = build_cohort(args, config, out, log)
        if not cohort.val and config.select_by != "last":
            raise SystemExit("brats-train: the split left no validation patients; give more cases "
                             "(or --set select_by=last to keep the final epoch)")
        t0 = time.perf_counter()
        train_cases = [prepare_case(c, config) for c in cohort.train]
        val_cases = [prepare_case(c, config) for c in cohort.val] if d.main else []
        has_real = any(c.source == "real" for c in cohort.train + cohort.val)
        del cohort.train[:], cohort.val[:]
        log(f"prepared slice stacks in {time.perf_counter() - t0:.0f} s")
        trainer = Trainer(config, device, d, not args.no_amp, args.real_fraction)
        if args.resume is not None:
            trainer.load_state(args.resume)
            log(f"resumed from {args.resume} after epoch {trainer.epoch}")
            if d.main:  # a kill between last_state.pt and history.csv: the state's history is the truth
                write_history(trainer.history, out)
        name = args.name or f"unet2d-{'-'.join(config.modalities)}-{config.name}"
        prog = "brats-train" if Path(sys.argv[0]).name in ("brats-train", "train.py", "__main__.py") else Path(sys.argv[0]).name
        command = " ".join(shlex.quote(a) for a in ([prog] + (sys.argv[1:] if argv is None else list(argv))))
        training_info = {
            "command": command,
            "config": config.to_dict(),
            "data": cohort.description,
            "git_revision": git_revision(),
            "device": str(device) + (f" x{d.world}" if d.active else ""),
            "torch": torch.__version__,
            "parameters": count_parameters(trainer.network),
        }
        if d.main:
            write_text_atomically(out / "config.json", json.dumps(training_info, indent=2) + "\n")
            log(f"{config.name}: {count_parameters(trainer.network):,} parameters, {len(train_cases)} train / "
                f"{len(val_cases)} val cases, device {device}{' x' + str(d.world) if d.active else ''}, output {out}")
        started = time.perf_counter()
        first_epoch = trainer.epoch
        limit_s = args.time_limit * 60 if args.time_limit else None
        epoch_times: list[float] = []
        for epoch in range(trainer.epoch, config.epochs):
            elapsed = time.perf_counter() - started
            if limit_s is not None and epoch_times and elapsed + max(epoch_times[-3:]) > limit_s:
                log(f"time limit of {args.time_limit} min reached after epoch {epoch}; stopping")
                break
            frac = elapsed / limit_s if limit_s else 0.0
            if limit_s and epoch_times:  # judge by where the epoch will *end*: anneal fully by the limit
                frac = (elapsed + float(np.mean(epoch_times[-3:]))) / limit_s
            time_vec = torch.tensor([frac], dtype=torch.float64)
            if d.active:
                dist.broadcast(time_vec, src=0)
            epoch_t0 = time.perf_counter()
            lr = trainer.set_epoch_lr(epoch, float(time_vec[0]))
            row: dict[str, Any] = {"epoch": epoch + 1, "lr": lr}
            row.update(trainer.train_epoch(train_cases, epoch, args.max_steps, d.main and not args.no_progress))
            val_vec = torch.full((2,), float("nan"), dtype=torch.float64)
            per_case: dict[str, Any] = {}
            if d.main and val_cases and args.val_every > 0 and (epoch + 1) % args.val_every == 0:
                meta = model_metadata(config, name, training_info, {}, has_real, args.ncr_definition)
                v = validate(trainer.network, meta, val_cases, config, device, args.val_batch_size, trainer.amp)
                per_case = v.pop("per_case")
                row.update(v)
                val_vec[:] = torch.tensor([v["val_loss"] if "val_loss" in v else float("nan"), v["val_select"]])
            if d.active:
                dist.broadcast(val_vec, src=0)
            val_loss, val_select = float(val_vec[0]), float(val_vec[1])
            if trainer.plateau is not None and math.isfinite(val_loss):
                trainer.plateau.step(val_loss)
            score = -val_loss if config.select_by == "val_loss" else val_select
            if config.select_by == "last":  # no validation set: the annealed final epoch is the model
                score = float(epoch)
            improved = math.isfinite(score) and (trainer.best_score is None or score > trainer.best_score)
            if improved:
                trainer.best_score = score
            row["best"] = int(improved)
            trainer.epoch = epoch + 1
            trainer.history.append(row)
            if d.main:
                if improved:
                    metrics = {
                        "validation": {k: row[k] for k in row if k.startswith("val_")} | {"epoch": epoch + 1, "per_case": per_case},
                    }
                    training_info["epochs"] = epoch + 1
                    training_info["epochs_planned"] = config.epochs
                    training_info["date"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
                    save_model(out / "best.pt", trainer.network, model_metadata(config, name, training_info, metrics, has_real, args.ncr_definition))
                crash_point(f"train: epoch {epoch + 1} best saved")
                save_torch_atomically(out / "last_state.pt", trainer.state())
                write_history(trainer.history, out)
                crash_point(f"train: epoch {epoch + 1} history written")
                elapsed = time.perf_counter() - started
                eta = elapsed / (epoch + 1 - first_epoch) * (config.epochs - epoch - 1)
                if limit_s is not None:
                    eta = min(eta, max(limit_s - elapsed, 0.0))
                log(
                    f"epoch {epoch + 1}/{config.epochs} lr {lr:.2e} train loss {row['train_loss']:.4f} "
                    f"({row['train_slices_per_s']:.1f} slices/s) val loss {row.get('val_loss', float('nan')):.4f} "
                    f"Dice WT {row.get('val_dice_WT', float('nan')):.3f} TC {row.get('val_dice_TC', float('nan')):.3f} "
                    f"ET {row.get('val_dice_ET', float('nan')):.3f}{' *best*' if improved else ''} "
                    f"[{format_seconds(elapsed)} elapsed, ETA {format_seconds(eta)}]"
                )
            epoch_times.append(time.perf_counter() - epoch_t0)
            if d.active:
                dist.barrier()
        if d.main and args.export is not None and (out / "best.pt").exists():
            from models.checkpoint import load_model

            best = load_model(out / "best.pt", fuse=False)
            best.metadata["training"]["command"] = command
            save_model(args.export, best.network, best.metadata)
            log(f"exported best checkpoint to {args.export}")
        if d.main and training_info["data"]["skipped"]:  # said again at the end, where a person looks
            skipped = training_info["data"]["skipped"]
            log(f"skipped {len(skipped)} case(s) that could not be read (config.json 'data.skipped'): "
                + "; ".join(f"{s['case']} ({Path(s['file']).name}: {s['problem']})" for s in skipped))
    except OSError as exc:  # a full or read-only disk: say where, and what is still usable
        resume = f"; resume with --resume {out / 'last_state.pt'}" if (out / "last_state.pt").is_file() else ""
        raise SystemExit(f"brats-train: {exc}; files in {out} are the last complete epoch's{resume}") from None
    finally:
        if d.active and dist.is_initialized():
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
