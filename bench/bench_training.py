"""Speed of the bundled model and of the tutorial-sized U-Net, measured in the same run.

    python bench/bench_training.py [--threads 2] [--repeats 5] [--device cpu|cuda] [--json out.json]

Measures, for each of

* ``bundled``: the bundled checkpoint (or, if absent, the ``default`` config's network
  with random weights: same cost), brain-box crop at native resolution, 2.5-D input;
* ``tutorial``: the reference tutorial's U-Net (base width 32, depth 5, no batch norm,
  7.76 M parameters) at 128x128, every one of the 155 slices;

1. whole-volume inference time on a 240x240x155 four-modality case (the real
   ``brainles-sample-case`` when ../shared/data is present, else a synthetic case), through
   :func:`models.inference.predict_volume`, preprocessing included: min and median of
   ``--repeats`` runs (min is the least disturbed by other processes on a shared CPU);
2. training throughput in slices/s: full optimisation steps (forward, loss, backward,
   optimiser; augmentation included for ``bundled``) on batches of 16 slices, at the
   training patch size (128x128 for both).

Timings on a machine shared with other jobs are noisy; the script prints the load
average before and after so a reader can judge.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see training/__init__.py

import numpy as np  # noqa: E402
import torch  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from brats_desktop.core.patient import load_patient  # noqa: E402
from brats_desktop.core.synthetic import make_synthetic_case  # noqa: E402
from models.checkpoint import LoadedModel, default_model_path, load_model  # noqa: E402
from models.inference import autocast_dtype, predict_volume  # noqa: E402
from models.runtime import uses_amp  # noqa: E402
from models.unet import build_network, count_parameters, fuse_batch_norm  # noqa: E402
from training.augment import augment_batch  # noqa: E402
from training.configs import DEFAULT, SEED, TrainConfig  # noqa: E402
from training.train import Dist, Trainer  # noqa: E402

CASE = REPO.parent / "shared" / "data" / "brainles-sample-case"


def load_case() -> tuple[str, dict[str, np.ndarray]]:
    if CASE.is_dir():
        return "brainles-sample-case (real, 240x240x155)", load_patient(CASE).images
    made = make_synthetic_case(7, shape=(240, 240, 155))
    return "synthetic case (240x240x155)", made.images


def model_for(config: TrainConfig, use_bundled: bool) -> tuple[LoadedModel, str]:
    path = default_model_path()
    if use_bundled and path.exists():
        return load_model(path), f"bundled checkpoint {path.name}"
    torch.manual_seed(0)
    net = build_network(config.architecture).eval()
    if config.batch_norm:
        fuse_batch_norm(net)
    meta = {"name": config.name, "modalities": list(config.modalities), "preprocessing": config.preprocessing.to_dict(),
            "architecture": config.architecture}
    return LoadedModel(net, meta), f"{config.name} config, random weights"


def time_inference(model: LoadedModel, images, device: str, repeats: int, amp: bool) -> list[float]:
    predict_volume(model, images, device=device, amp=amp)  # warm-up (allocations, cuDNN choice)
    times = []
    for _ in range(repeats):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        predict_volume(model, images, device=device, amp=amp)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return times


def time_training(config: TrainConfig, device: str, steps: int, batch: int = 16) -> float:
    """Slices per second of full optimisation steps at 128x128 (augmentation as configured).

    Each step is :meth:`training.train.Trainer.train_step`, what ``brats-train`` runs: the same
    memory layout and mixed precision (float16 on CUDA, bfloat16 on CPUs that have it).
    """
    trainer = Trainer(config, torch.device(device), Dist(), amp=True, real_fraction=None)
    size = config.patch_size or config.preprocessing.resize or (128, 128)
    x = torch.randn(batch, config.architecture["in_channels"], *size)
    y = torch.randint(0, 4, (batch, *size))
    g = torch.Generator().manual_seed(0)
    spm = config.preprocessing.slices_per_modality

    def step() -> None:
        xb, yb = (augment_batch(x, y, config.augment, spm, g) if config.augment is not None else (x, y))
        trainer.train_step(xb, yb)

    step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    rates = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        rates.append(batch / (time.perf_counter() - t0))
    return max(rates)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--train-steps", type=int, default=5)
    p.add_argument("--device", default="cpu")
    p.add_argument("--random-weights", action="store_true", help="ignore the bundled checkpoint")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    amp = uses_amp(args.device)  # what the app does: float16 on CUDA, bfloat16 on CPUs that have it
    mixed_precision = str(autocast_dtype(args.device)).removeprefix("torch.") if amp else "off"
    load_before = os.getloadavg()
    case_name, images = load_case()
    results: dict[str, object] = {
        "case": case_name, "device": args.device, "threads": args.threads, "torch": torch.__version__,
        "mixed_precision": mixed_precision,
        "load_average_before": [round(v, 2) for v in load_before],
    }
    for label, config, bundled in (("bundled", DEFAULT, not args.random_weights), ("tutorial", SEED, False)):
        model, source = model_for(config, bundled)
        times = time_inference(model, images, args.device, args.repeats, amp)
        rate = time_training(config, args.device, args.train_steps)
        results[label] = {
            "model": source,
            "parameters": count_parameters(build_network(model.metadata["architecture"])),
            "input": ("brain box at native resolution, " if config.preprocessing.crop == "brain_box" else "all slices at ")
            + (f"{config.preprocessing.resize[0]}x{config.preprocessing.resize[1]}" if config.preprocessing.resize else "1 mm")
            + f", {model.metadata['architecture']['in_channels']} channels",
            "inference_s_min": round(min(times), 3),
            "inference_s_median": round(statistics.median(times), 3),
            "train_slices_per_s": round(rate, 1),
        }
        print(f"{label:9s} {source}: inference min {min(times):.2f} s, median {statistics.median(times):.2f} s; "
              f"training {rate:.1f} slices/s", flush=True)
    results["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
