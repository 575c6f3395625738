"""Device choice and out-of-memory recovery of models.runtime, with fake predict functions.

The fakes stand in for models.inference.predict_volume so the retry logic can be
checked on any machine: they raise torch.cuda.OutOfMemoryError exactly as CUDA would.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brats_desktop.core.patient import patient_from_arrays
from models import runtime
from models.runtime import (
    MissingModalityError,
    predict_patient,
    run_with_fallback,
    select_device,
)

torch.set_num_threads(1)


class FakeModel:
    """Just what runtime reads from a LoadedModel: its name and modalities."""

    def __init__(self, modalities=("flair", "t1ce")) -> None:
        self.name = "fake"
        self.modalities = list(modalities)


class OomUntil:
    """Raises CUDA OOM on GPU devices while batch_size > limit (limit None: always on GPU)."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.calls: list[tuple[str, int, bool]] = []

    def __call__(self, model, images, *, device, batch_size, amp, progress=None, should_stop=None):
        device = torch.device(device)
        self.calls.append((device.type, batch_size, amp))
        shape = next(iter(images.values())).shape
        total = shape[2]
        for done in range(1, total + 1):
            if device.type != "cpu" and (self.limit is None or batch_size > self.limit) and done == 3:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            if progress is not None:
                progress(done, total)
        return np.ones(shape, dtype=np.uint8)


@pytest.fixture
def no_cache_release(monkeypatch):
    """torch.cuda.empty_cache needs a driver; the retry logic does not."""
    monkeypatch.setattr(runtime, "_release_gpu_memory", lambda device: None)


def _images(shape=(8, 8, 10)):
    rng = np.random.default_rng(0)
    return {"flair": rng.random(shape, dtype=np.float32), "t1ce": rng.random(shape, dtype=np.float32)}


def test_oom_halves_batch_size_then_succeeds(no_cache_release):
    fake = OomUntil(limit=4)
    notes: list[str] = []
    seen: list[tuple[int, int]] = []
    run = run_with_fallback(
        FakeModel(), _images(), device="cuda", batch_size=16, predict=fake,
        notify=notes.append, progress=lambda d, t: seen.append((d, t)),
    )
    assert [c[1] for c in fake.calls] == [16, 8, 4]
    assert all(c[0] == "cuda" and c[2] is True for c in fake.calls)  # AMP on the GPU
    assert run.device == "cuda" and run.batch_size == 4
    assert len(notes) == 2 and "retrying with 8" in notes[0] and "retrying with 4" in notes[1]
    assert run.notes == notes
    # Retries restart from slice 0, yet the reported progress never goes backwards.
    done = [d for d, _ in seen]
    assert done == sorted(done) and done[-1] == 10


@pytest.fixture
def cpu_bf16(monkeypatch):
    """Set what the CPU is said to compute natively (``BRATS_CPU_BF16``), with the cached detection reset."""
    from models import runtime

    def set_(native: bool) -> None:
        monkeypatch.setenv("BRATS_CPU_BF16", "1" if native else "0")
        runtime.cpu_has_native_bf16.cache_clear()

    yield set_
    runtime.cpu_has_native_bf16.cache_clear()


def test_cpu_mixed_precision_only_where_bfloat16_is_native(cpu_bf16):
    from models.runtime import uses_amp

    cpu_bf16(False)
    assert uses_amp("cpu") is False  # emulated bfloat16 is slower than float32
    cpu_bf16(True)
    assert uses_amp("cpu") is True
    assert uses_amp("cuda") is True


def test_bfloat16_inference_keeps_the_labels_of_float32(cpu_bf16):
    """The real network under autocast: labels of a random input match float32 but for a few boundary voxels."""
    import torch

    from models.checkpoint import LoadedModel
    from models.inference import predict_volume
    from models.unet import build_network
    from training.configs import DEFAULT

    torch.manual_seed(0)
    model = LoadedModel(build_network(DEFAULT.architecture).eval(), {
        "modalities": ["flair", "t1ce"], "preprocessing": DEFAULT.preprocessing.to_dict(),
        "architecture": DEFAULT.architecture, "name": "random"})
    rng = np.random.default_rng(0)
    images = {m: rng.normal(size=(48, 40, 12)).astype(np.float32) for m in ("flair", "t1ce")}
    a = predict_volume(model, images, amp=False)
    b = predict_volume(model, images, amp=True)
    assert a.shape == b.shape and np.mean(a == b) > 0.97


def test_oom_at_batch_one_falls_back_to_cpu(no_cache_release, cpu_bf16):
    cpu_bf16(False)
    fake = OomUntil(limit=None)
    notes: list[str] = []
    run = run_with_fallback(FakeModel(), _images(), device="cuda", batch_size=4, predict=fake, notify=notes.append)
    assert [(c[0], c[1]) for c in fake.calls] == [("cuda", 4), ("cuda", 2), ("cuda", 1), ("cpu", 4)]
    assert fake.calls[-1][2] is False  # no mixed precision on a CPU without native bfloat16
    assert run.device == "cpu"
    assert "CPU" in notes[-1]
    assert run.labels.dtype == np.uint8 and run.labels.shape == (8, 8, 10)


def test_other_errors_are_not_swallowed(no_cache_release):
    def broken(*args, **kwargs):
        raise ValueError("bad weights")

    with pytest.raises(ValueError, match="bad weights"):
        run_with_fallback(FakeModel(), _images(), device="cuda", predict=broken)


def test_oom_on_cpu_propagates():
    def oom(*args, **kwargs):
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory: out of memory")

    with pytest.raises(RuntimeError, match="out of memory"):
        run_with_fallback(FakeModel(), _images(), device="cpu", predict=oom)


def test_mps_style_oom_message_is_recognised():
    assert runtime.is_out_of_memory(RuntimeError("MPS backend out of memory (MPS allocated: 1 GB)"))
    assert runtime.is_out_of_memory(torch.cuda.OutOfMemoryError("x"))
    assert not runtime.is_out_of_memory(RuntimeError("shape mismatch"))


def test_select_device_order_and_force_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert select_device("auto").type == "cuda"
    assert select_device("auto", force_cpu=True).type == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(runtime, "mps_available", lambda: True)
    assert select_device("auto").type == "mps"
    monkeypatch.setattr(runtime, "mps_available", lambda: False)
    assert select_device("auto").type == "cpu"
    with pytest.raises(runtime.DeviceUnavailableError, match="CUDA"):
        select_device("cuda")
    with pytest.raises(ValueError, match="unknown device"):
        select_device("tpu")


def test_missing_modalities_named_before_running():
    shape = (6, 6, 4)
    patient = patient_from_arrays("p1", {"t1": np.zeros(shape, np.float32), "t2": np.zeros(shape, np.float32)})
    called = []
    with pytest.raises(MissingModalityError) as info:
        predict_patient(FakeModel(("flair", "t1ce")), patient, device="cpu", predict=lambda *a, **k: called.append(1))
    assert info.value.missing == ["flair", "t1ce"]
    assert "FLAIR" in str(info.value) and "T1CE" in str(info.value)
    assert not called


def test_predict_patient_feeds_required_modalities_in_channel_order():
    shape = (6, 6, 4)
    patient = patient_from_arrays(
        "p", {m: np.full(shape, i, np.float32) for i, m in enumerate(("t1", "t1ce", "t2", "flair"))}
    )
    got = {}

    def fake(model, images, **kwargs):
        got.update(images)
        got["order"] = list(images)
        return np.zeros(shape, np.uint8)

    run = predict_patient(FakeModel(("flair", "t1ce")), patient, device="cpu", predict=fake)
    assert got["order"] == ["flair", "t1ce"]
    assert got["flair"] is patient.images["flair"]
    assert run.labels.shape == patient.shape and run.device == "cpu"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")
def test_cuda_device_is_used_when_present():
    assert select_device("auto").type == "cuda"
    assert runtime.describe_device("cuda").startswith("GPU")


def test_auto_batch_size_keeps_batches_small_for_large_slices():
    assert runtime.auto_batch_size((240, 240, 155), "cpu") == 8
    assert runtime.auto_batch_size((120, 120, 78), "cpu") == 8  # never more than the reference
    assert runtime.auto_batch_size((512, 512, 300), "cpu") == 2
    assert runtime.auto_batch_size((240, 240, 155), "cuda") == 32
    assert runtime.auto_batch_size((512, 512, 300), "cuda") == 7
    assert runtime.auto_batch_size((2048, 2048, 10), "cpu") == 1


def test_bundled_model_choice_takes_t2_only_when_the_folder_has_it(tmp_path, monkeypatch):
    """The FLAIR + T1CE default serves every folder; a T2 model ships only if the folds chose it and wins only with T2."""
    from models import checkpoint
    from models.checkpoint import ModelLoadError, save_model
    from models.unet import build_network
    from training.configs import DEFAULT

    def write(name: str, modalities: list[str]) -> None:
        cfg = DEFAULT.replace(modalities=tuple(modalities), base_width=2, depth=2)
        save_model(tmp_path / name, build_network(cfg.architecture), {
            "name": name, "modalities": modalities, "classes": {}, "label_convention": "internal",
            "preprocessing": cfg.preprocessing.to_dict(), "architecture": cfg.architecture})

    monkeypatch.setattr(checkpoint, "BUNDLED_DIR", tmp_path)
    with pytest.raises(ModelLoadError, match="no bundled model"):
        runtime.best_bundled_model(None)
    write(checkpoint.DEFAULT_MODEL_NAME, ["flair", "t1ce"])
    write("unet2d-flair-t1ce-t2.pt", ["flair", "t1ce", "t2"])
    vol = np.zeros((8, 8, 4), np.float32)
    two = patient_from_arrays("two", {"flair": vol, "t1ce": vol})
    three = patient_from_arrays("three", {"flair": vol, "t1ce": vol, "t2": vol, "t1": vol})
    only_flair = patient_from_arrays("flair", {"flair": vol})
    cache: dict = {}
    assert runtime.best_bundled_model(two, cache).modalities == ["flair", "t1ce"]
    assert runtime.best_bundled_model(three, cache).modalities == ["flair", "t1ce", "t2"]
    assert runtime.best_bundled_model(None, cache).modalities == ["flair", "t1ce"]
    # nothing fits: the default comes back, so the modality check can name what is missing
    assert runtime.best_bundled_model(only_flair, cache).modalities == ["flair", "t1ce"]
    assert len(cache) == 2  # each file loaded once
