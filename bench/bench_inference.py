"""Inference speed and memory: Run → overlay in the app, peak RSS, time vs volume size.

Each measurement runs in a fresh subprocess of this script, so peak memory (ru_maxrss)
belongs to that measurement alone:

* ``app``: the real main window (offscreen works) with a 240x240x155 patient and the
  model loaded; Segment → Run is triggered and the clock stops when the prediction
  layer is drawn (``SegmentController.last_run_to_overlay_s``: worker start, predict,
  layer added, views repainted). Repeated ``--repeats`` times; the first run includes
  torch's one-off warm-up and is reported apart. Peak RSS is read before the first Run
  (patient + model loaded) and at the end (including inference).
* ``size``: headless :func:`models.runtime.predict_patient` (the code path of the app
  and ``brats-predict``) on volumes from 120x120x78 up to 512x512x300: the first
  ("cold") and second ("warm") prediction of the process, and its peak RSS.
* ``tta``: headless :func:`models.runtime.predict_patient` on the same 240x240x155 case with
  test-time augmentation "none" (the CPU default) and "flip" (Segment → Accurate), and
  the argmax-only :func:`models.inference.predict_volume` (what keeping the probabilities costs).

The model is ``--model`` or the bundled default; if neither exists yet, a randomly
initialised network with the training default configuration's architecture (what the
bundled model uses) is measured instead, which times the same computation. The
patient is ``--case`` (a patient folder) or the synthetic 240x240x155 demo-like case.

Usage::

    python bench/bench_inference.py                 # CPU, all measurements
    python bench/bench_inference.py --device cuda   # GPU when available
    python bench/bench_inference.py --only app --case ../shared/data/BraTS-GLI-00001-000
    python bench/bench_inference.py --only tta --case ../shared/data/BraTS-GLI-00001-000 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SIZES = [(120, 120, 78), (240, 240, 155), (360, 360, 230), (512, 512, 300)]


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def cpu_seconds() -> float:
    """User + system CPU time of this process (all threads): contention-proof cost of the work.

    On a shared machine the wall-clock time grows with other people's load; the CPU time
    does not, and on an otherwise idle machine wall ~= CPU / threads.
    """
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def current_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def model_path(requested: str | None, tmp: Path) -> tuple[Path, str]:
    """The checkpoint to measure and a note saying which it is."""
    from models.checkpoint import default_model_path, save_model

    if requested:
        return Path(requested), f"--model {requested}"
    bundled = default_model_path()
    if bundled.exists():
        return bundled, f"bundled {bundled.name}"
    import torch

    from models.unet import build_network
    from training.configs import DEFAULT

    torch.manual_seed(0)
    net = build_network(DEFAULT.architecture)
    meta = {
        "name": "random-default-architecture",
        "modalities": list(DEFAULT.modalities),
        "classes": {0: "background", 1: "NCR", 2: "ED", 3: "ET"},
        "label_convention": "internal",
        "preprocessing": DEFAULT.preprocessing.to_dict(),
        "architecture": DEFAULT.architecture,
    }
    path = save_model(tmp / "random-default.pt", net, meta)
    return path, "random weights, training DEFAULT architecture (bundled model not present yet)"


def synthetic_patient(shape: tuple[int, int, int]):
    """A BraTS-like patient of any size: the 240x240x155 synthetic case, resampled (nearest)."""
    import numpy as np

    from brats_desktop.core.patient import patient_from_arrays
    from brats_desktop.core.synthetic import make_synthetic_case

    case = make_synthetic_case(0)
    idx = [np.minimum((np.arange(n) * s / n).astype(np.int64), s - 1) for n, s in zip(shape, case.labels.shape)]

    def resample(vol):
        return np.ascontiguousarray(vol[np.ix_(*idx)])

    images = {m: resample(v) for m, v in case.images.items()}
    return patient_from_arrays(f"synthetic-{'x'.join(map(str, shape))}", images, resample(case.labels))


# --------------------------------------------------------------------------- workers


def worker_app(args: argparse.Namespace) -> dict:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from brats_desktop.app.views import pg_setup  # noqa: F401
    from PySide6.QtCore import QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from brats_desktop.app.main_window import MainWindow
    from brats_desktop.core.patient import load_patient

    app = QApplication.instance() or QApplication([])
    tmp = Path(tempfile.mkdtemp(prefix="bench-inf-"))
    path, note = model_path(args.model, tmp)
    patient = load_patient(args.case) if args.case else synthetic_patient((240, 240, 155))
    settings = QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings)
    window.resize(1400, 900)
    window.show()
    window.show_patient(patient)
    seg = window.segment
    seg.load_model(path)
    seg.info_dialog.close()
    seg.force_cpu_action.setChecked(args.device == "cpu")
    app.processEvents()
    rss_loaded = peak_rss_mb()
    cur_loaded = current_rss_mb()

    times, inference, devices, cpu = [], [], [], []
    for _ in range(args.repeats + 1):
        loop = QEventLoop()
        seg.prediction_applied.connect(loop.quit)
        QTimer.singleShot(120_000, loop.quit)
        window.state.remove_layer("Prediction")
        app.processEvents()
        cpu0 = cpu_seconds()
        seg.run_action.trigger()
        loop.exec()
        cpu.append(cpu_seconds() - cpu0)
        seg.prediction_applied.disconnect(loop.quit)
        if seg.last_run_to_overlay_s is None:
            raise SystemExit("no prediction arrived within 120 s")
        times.append(seg.last_run_to_overlay_s)
        inference.append(seg.last_run.seconds)
        devices.append(seg.last_run.device_name)
        seg.last_run_to_overlay_s = None
    # Cancel latency: press Cancel right after the first batch reported, time until idle.
    cancel_s = []
    for _ in range(2):
        window.state.remove_layer("Prediction")
        loop = QEventLoop()
        clicked: list[float] = []

        def on_progress(done: int, total: int) -> None:
            if not clicked and done < total:
                clicked.append(time.perf_counter())
                seg.cancel()

        seg.running_changed.connect(lambda running: running or loop.quit())
        QTimer.singleShot(120_000, loop.quit)
        seg.run_action.trigger()
        seg.worker.progress.connect(on_progress)
        loop.exec()
        if clicked:
            cancel_s.append(time.perf_counter() - clicked[0])
    window.state.set_patient(None)
    window.close()
    return {
        "measure": "app",
        "cancel_latency_s": [round(t, 3) for t in cancel_s],
        "model": note,
        "patient": patient.name,
        "shape": list(patient.shape),
        "device": devices[-1],
        "first_run_s": round(times[0], 3),
        "run_to_overlay_s": [round(t, 3) for t in times[1:]],
        "median_run_to_overlay_s": round(statistics.median(times[1:]), 3),
        "median_inference_s": round(statistics.median(inference[1:]), 3),
        "median_cpu_s": round(statistics.median(cpu[1:]), 3),
        "load_avg_1min": round(os.getloadavg()[0], 2),
        "peak_rss_loaded_mb": round(rss_loaded, 1),
        "rss_loaded_mb": round(cur_loaded, 1),
        "peak_rss_after_runs_mb": round(peak_rss_mb(), 1),
    }


def worker_size(args: argparse.Namespace) -> dict:
    from models.checkpoint import load_model
    from models.runtime import predict_patient

    tmp = Path(tempfile.mkdtemp(prefix="bench-inf-"))
    path, note = model_path(args.model, tmp)
    model = load_model(path)
    shape = tuple(int(v) for v in args.shape.split("x"))
    patient = synthetic_patient(shape)  # type: ignore[arg-type]
    # Cold: the first prediction of the process (thread pools, oneDNN kernels for these
    # shapes, allocator growth), as a fresh brats-predict sees it. Warm: the same again.
    base = peak_rss_mb()
    start = time.perf_counter()
    predict_patient(model, patient, device=args.device, batch_size=args.batch_size)
    cold = time.perf_counter() - start
    cpu0 = cpu_seconds()
    start = time.perf_counter()
    run = predict_patient(model, patient, device=args.device, batch_size=args.batch_size)
    total = time.perf_counter() - start
    cpu = cpu_seconds() - cpu0
    return {
        "measure": "size",
        "model": note,
        "shape": list(shape),
        "voxels_m": round(float(shape[0] * shape[1] * shape[2]) / 1e6, 2),
        "device": run.device_name,
        "cold_s": round(cold, 3),
        "seconds": round(total, 3),
        "inference_s": round(run.seconds, 3),
        "cpu_s": round(cpu, 3),
        "load_avg_1min": round(os.getloadavg()[0], 2),
        "peak_rss_before_mb": round(base, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def worker_tta(args: argparse.Namespace) -> dict:
    """Test-time augmentation: predict_patient with tta "none" and "flip" (and the old argmax-only path), warm.

    One process, the same model and patient, modes interleaved per repeat so a change in
    the machine's load hits both alike. "argmax only" is predict_patient with
    models.inference.predict_volume as its predictor (no probabilities kept): the cost of
    keeping the mean softmax for the uncertainty view is the difference to "none".
    """
    from brats_desktop.core.patient import load_patient
    from models.checkpoint import load_model
    from models.inference import predict_volume
    from models.runtime import auto_batch_size, predict_patient, select_device

    tmp = Path(tempfile.mkdtemp(prefix="bench-inf-"))
    path, note = model_path(args.model, tmp)
    model = load_model(path)
    patient = load_patient(args.case) if args.case else synthetic_patient((240, 240, 155))
    device = select_device(args.device)
    batch = args.batch_size or auto_batch_size(patient.shape, device)
    modes = {
        # predict_patient with the old argmax-only predictor: same post-processing, no probabilities kept
        "argmax only": lambda: predict_patient(model, patient, device=args.device, batch_size=batch,
                                               predict=predict_volume),
        "none": lambda: predict_patient(model, patient, device=args.device, batch_size=batch, tta="none"),
        "flip": lambda: predict_patient(model, patient, device=args.device, batch_size=batch, tta="flip"),
    }
    for run in modes.values():  # warm-up: thread pools, kernels, allocator
        run()
    wall: dict[str, list[float]] = {k: [] for k in modes}
    cpu: dict[str, list[float]] = {k: [] for k in modes}
    for _ in range(args.repeats):
        for name, run in modes.items():
            c0, t0 = cpu_seconds(), time.perf_counter()
            run()
            wall[name].append(time.perf_counter() - t0)
            cpu[name].append(cpu_seconds() - c0)
    return {
        "measure": "tta",
        "model": note,
        "patient": patient.name,
        "shape": list(patient.shape),
        "device": describe(device),
        "batch_size": batch,
        "median_s": {k: round(statistics.median(v), 3) for k, v in wall.items()},
        "runs_s": {k: [round(t, 3) for t in v] for k, v in wall.items()},
        "median_cpu_s": {k: round(statistics.median(v), 3) for k, v in cpu.items()},
        "load_avg_1min": round(os.getloadavg()[0], 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def describe(device) -> str:
    from models.runtime import describe_device

    return describe_device(device)


# --------------------------------------------------------------------------- driver


def spawn(kind: str, args: argparse.Namespace, extra: list[str]) -> dict:
    cmd = [sys.executable, __file__, "--worker", kind, "--device", args.device,
           "--repeats", str(args.repeats), *extra]
    if args.batch_size is not None:
        cmd += ["--batch-size", str(args.batch_size)]
    if args.model:
        cmd += ["--model", args.model]
    if args.case:
        cmd += ["--case", args.case]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        return {"measure": kind, "error": proc.stderr.strip().splitlines()[-1:] or ["failed"], "args": extra}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda", "mps", "auto"))
    parser.add_argument("--model", help="checkpoint (default: bundled, else random DEFAULT architecture)")
    parser.add_argument("--case", help="patient folder for the app measurement (default: synthetic 240x240x155)")
    parser.add_argument("--repeats", type=int, default=3, help="timed Runs after the warm-up Run")
    parser.add_argument("--batch-size", type=int, default=None, help="default: models.runtime.auto_batch_size")
    parser.add_argument("--only", choices=("app", "size", "tta"))
    parser.add_argument("--sizes", default=",".join("x".join(map(str, s)) for s in SIZES))
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--worker", choices=("app", "size", "tta"), help=argparse.SUPPRESS)
    parser.add_argument("--shape", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker == "app":
        print(json.dumps(worker_app(args)))
        return 0
    if args.worker == "size":
        print(json.dumps(worker_size(args)))
        return 0
    if args.worker == "tta":
        print(json.dumps(worker_tta(args)))
        return 0

    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print("no CUDA GPU on this machine: nothing to measure with --device cuda")
        return 0
    info = {
        "python": platform.python_version(), "torch": torch.__version__,
        "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "load_avg": [round(v, 2) for v in os.getloadavg()],
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    print(f"# bench_inference  {json.dumps(info)}")
    results: list[dict] = []
    if args.only in (None, "app"):
        r = spawn("app", args, [])
        results.append(r)
        print(json.dumps(r))
    if args.only in (None, "tta"):
        r = spawn("tta", args, [])
        results.append(r)
        print(json.dumps(r))
    if args.only in (None, "size"):
        for shape in args.sizes.split(","):
            r = spawn("size", args, ["--shape", shape])
            results.append(r)
            print(json.dumps(r))
    print()
    print("| measurement | device | result |")
    print("| --- | --- | --- |")
    for r in results:
        if "error" in r:
            print(f"| {r['measure']} {r.get('args', '')} | | error: {r['error']} |")
        elif r["measure"] == "tta":
            m, c = r["median_s"], r["median_cpu_s"]
            print(f"| predict_patient {'x'.join(map(str, r['shape']))}, test-time augmentation (median of "
                  f"{len(r['runs_s']['none'])}) | {r['device']} | none {m['none']:.2f} s ({c['none']:.1f} s CPU), "
                  f"flip {m['flip']:.2f} s ({c['flip']:.1f} s CPU), argmax only {m['argmax only']:.2f} s "
                  f"(load {r['load_avg_1min']}) |")
        elif r["measure"] == "app":
            print(f"| Run → overlay, {'x'.join(map(str, r['shape']))} (median of {len(r['run_to_overlay_s'])}) "
                  f"| {r['device']} | {r['median_run_to_overlay_s']:.2f} s wall, {r['median_cpu_s']:.1f} s CPU "
                  f"(inference {r['median_inference_s']:.2f} s; first run {r['first_run_s']:.2f} s; "
                  f"load {r['load_avg_1min']}) |")
            print(f"| Cancel → idle (after the first batch) | {r['device']} | "
                  f"{', '.join(f'{t:.2f} s' for t in r['cancel_latency_s'])} |")
            print(f"| app peak RSS, patient + model loaded / after runs | | "
                  f"{r['peak_rss_loaded_mb']:.0f} MB / {r['peak_rss_after_runs_mb']:.0f} MB |")
        else:
            print(f"| predict_patient {'x'.join(map(str, r['shape']))} ({r['voxels_m']} M voxels) | {r['device']} "
                  f"| {r['seconds']:.2f} s wall warm ({r['cold_s']:.2f} s cold), {r['cpu_s']:.1f} s CPU, "
                  f"peak RSS {r['peak_rss_mb']:.0f} MB "
                  f"(load {r['load_avg_1min']}) |")
    if args.json:
        args.json.write_text(json.dumps({"info": info, "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
