"""The click engine: refine a label map from the user's guidance with the bundled click model.

Qt-free; torch is imported lazily (``import brats_desktop.interactive`` stays light).
Per call the network runs only on a window around the newest guidance: in-plane
:attr:`ClickEngine.window` voxels (or more for a long scribble) and the clicked slices
± ``slices_each_side``, so a click is answered in a fraction of a second on a CPU and
its effect stays local. Of the window's changes only those 26-connected to the newest
guidance and within :data:`REACH` voxels of it are kept (:func:`.local.connected_changes`):
a click in one lesion does not move another.
Then each new item grows over the piece it was put on (:mod:`.grow`: where the class
probabilities make its label plausible, connected to it, showing what the clicked voxel
showed, within a reach): the automatic segmentation's probabilities when they were given
(:meth:`ClickEngine.set_prior`), else the network's own in its window.
Then every pointed-at voxel gets its label and ``locked`` voxels (hand
painted) keep theirs unless the guidance points at them.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from brats_desktop.core.preprocessing import PreprocessingSpec, bounding_box, brain_mask, even_padding, normalise

from . import guidance as G
from .grow import GrowRule, grow_box, grow_region
from .local import connected_changes, near

CLICK_MODEL_DIR = Path(__file__).resolve().parents[2] / "models" / "bundled" / "interactive"
CLICK_MODEL_NAME = "click-unet2d-flair-t1ce.pt"
EMPTY_BOX: tuple[slice, slice, slice] = (slice(0, 0), slice(0, 0), slice(0, 0))
# Voxels (Euclidean) from the newest guidance within which an answer may change the map: in the
# held-out training windows a reach of 12 kept TC from falling after 3 clicks (0.899 -> 0.904
# instead of 0.899 -> 0.899 unlimited, untrained model; 0.880 -> 0.899 for a 4-minute model).
REACH = 12.0
# How far a click grows (see .grow); chosen by patient-level cross-validation on out-of-fold
# starting maps (training/interactive_grow_cv.py, README "AI correction"): m2r20d1j0.75g1R25o1Pf.
GROW = GrowRule(margin=2.0, reach=20.0, relative=1.0, relative_intensity=0.75, likelihood=1.0,
                likelihood_reach=25.0, likelihood_smooth=1.0, pool_shown=True, fill=True)


@dataclass
class RefineResult:
    """The new internal label map (a new array), the only region that can differ from the input, the time taken."""

    labels: np.ndarray
    bbox: tuple[slice, slice, slice]
    seconds: float


def bundled_click_model_path() -> Path:
    return CLICK_MODEL_DIR / CLICK_MODEL_NAME


def _union(a: tuple[slice, ...] | None, lo: np.ndarray, hi: np.ndarray) -> tuple[slice, slice, slice]:
    if a is None:
        return tuple(slice(int(l), int(h) + 1) for l, h in zip(lo, hi))  # type: ignore[return-value]
    return tuple(slice(min(s.start, int(l)), max(s.stop, int(h) + 1)) for s, l, h in zip(a, lo, hi))  # type: ignore[return-value]


class ClickEngine:
    """Refines label maps with a click model file (see :mod:`.network` for its inputs)."""

    def __init__(self, model: Any, device: str = "cpu", window: int | None = None,
                 slices_each_side: int | None = None, local: bool = True, reach: float | None = REACH,
                 ncr_definition: str | None = None, grow: GrowRule = GROW) -> None:
        from models.inference import model_ncr_definition

        from .network import interactive_spec

        meta = model.metadata
        spec = meta.get("interactive")
        context = int(meta["preprocessing"].get("context", 1))
        if not isinstance(spec, dict):
            raise ValueError(f"{model.name}: not a click model (its metadata has no 'interactive' section)")
        expected = interactive_spec(context)
        differing = sorted(k for k in expected if spec.get(k) != expected[k])
        if differing:
            raise ValueError(f"{model.name}: guidance encoding differs from this version's ({', '.join(differing)})")
        self.model = model
        self.device = device
        self.context = context
        self.preprocessing = PreprocessingSpec.from_dict(meta["preprocessing"])
        self.window = int(window or spec.get("window", 96))
        self.slices_each_side = int(slices_each_side if slices_each_side is not None else spec.get("slices_each_side", 3))
        self.local = local
        self.reach = reach
        self.grow = grow
        # The meaning of label 1 in the map being corrected (core.postprocessing.NCR_DEFINITIONS;
        # None: as the model answers). Settable between calls: the app follows its Label 1 setting.
        self.ncr_definition = ncr_definition
        self.model_ncr_definition = model_ncr_definition(model)
        arch = meta["architecture"]
        self.size_multiple = 1 << (int(arch.get("depth", 5)) - 1)
        self._lock = threading.Lock()
        self._cache_key: tuple | None = None
        self._cache: tuple[Any, np.ndarray] | None = None
        self._network = None
        self._last_guidance: tuple[G.Guidance, ...] = ()
        self._prior_key: tuple | None = None
        self._prior: tuple[Any, np.ndarray] | None = None

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_file(cls, path: Path | str, device: str = "cpu", **options: Any) -> "ClickEngine":
        """Load a click model file through the safe loader (``weights_only``; ``ModelLoadError`` in words)."""
        from models.checkpoint import load_model

        return cls(load_model(path, fuse=False), device=device, **options)

    @classmethod
    def bundled(cls, device: str = "cpu", **options: Any) -> "ClickEngine":
        """The click model shipped with the app (``models/bundled/interactive/``)."""
        return cls.from_file(bundled_click_model_path(), device=device, **options)

    @property
    def modalities(self) -> list[str]:
        return list(self.model.metadata["modalities"])

    def _net(self):
        if self._network is None:
            import torch

            self._network = self.model.network.to(torch.device(self.device)).eval()
        return self._network

    # ------------------------------------------------------------------ inputs

    def _normalised(self, images: Mapping[str, np.ndarray]) -> np.ndarray:
        """(M, X, Y, Z) float32 normalised as the automatic model normalises, cached for the same arrays.

        The cache holds the source arrays themselves, so their ids cannot be reused by
        other arrays while the entry lives.
        """
        from models.inference import MissingModalityError

        missing = [m for m in self.modalities if m not in images]
        if missing:
            raise MissingModalityError(missing, self.model.name, sorted(images))
        arrays = tuple(images[m] for m in self.modalities)
        key = _identity(arrays)
        if self._cache_key == key and self._cache is not None:
            return self._cache[1]
        vols = [np.asarray(a, dtype=np.float32) for a in arrays]
        norm = np.stack(normalise(vols, self.preprocessing, brain_mask(vols)))
        self._cache_key, self._cache = key, (arrays, norm)
        return norm

    def _window(self, shape: Sequence[int], focus: Sequence[G.Guidance]) -> tuple[slice, slice, slice]:
        ext = G.extent(focus)
        assert ext is not None
        lo, hi = ext
        box = []
        for axis in range(2):
            need = int(hi[axis] - lo[axis] + 1) + 32
            size = min(max(self.window, -(-need // self.size_multiple) * self.size_multiple), shape[axis])
            centre = (int(lo[axis]) + int(hi[axis])) // 2
            start = int(np.clip(centre - size // 2, 0, shape[axis] - size))
            box.append(slice(start, start + size))
        k = self.slices_each_side
        box.append(slice(max(int(lo[2]) - k, 0), min(int(hi[2]) + k + 1, shape[2])))
        return tuple(box)  # type: ignore[return-value]

    def _windows(self, shape: Sequence[int], focus: Sequence[G.Guidance]) -> list[tuple[slice, slice, slice]]:
        """One window per new item, except items already inside an earlier window (merged clicks close together)."""
        boxes: list[tuple[slice, slice, slice]] = []
        for item in focus:
            pts = G.exact_voxels(item)
            if any(all(((pts[:, a] >= b[a].start) & (pts[:, a] < b[a].stop)).all() for a in range(3)) for b in boxes):
                continue
            boxes.append(self._window(shape, [item]))
        return boxes

    def _predict(self, norm: np.ndarray, labels: np.ndarray, guidance: Sequence[G.Guidance],
                 box: tuple[slice, slice, slice], probabilities: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """Network labels (uint8) on ``box``: context slices from the volume, in-plane padded to the U-Net's multiple.

        With ``probabilities`` also the softmax (classes, *box) of the network without its
        labels/guidance shortcut (``prior_channels``): what the images say, not what the map
        and the clicks add (for a warm-started model exactly the automatic model's answer).
        """
        import torch

        from models.runtime import uses_amp

        from .network import assemble_inputs

        nz = labels.shape[2]
        zlo, zhi = max(box[2].start - self.context, 0), min(box[2].stop + self.context, nz)
        ctx = (box[0], box[1], slice(zlo, zhi))
        origin = (box[0].start, box[1].start, zlo)
        img = norm[(slice(None), *ctx)]
        lab = labels[ctx]
        guid = G.rasterise(guidance, origin, lab.shape)
        m = self.size_multiple
        pads = [(0, -(-n // m) * m - n) for n in lab.shape[:2]]
        if any(p[1] for p in pads):
            img = np.pad(img, [(0, 0), *pads, (0, 0)])
            lab = np.pad(lab, [*pads, (0, 0)])
            guid = np.pad(guid, [(0, 0), *pads, (0, 0)])
        zs = np.arange(box[2].start - zlo, box[2].stop - zlo)
        x = torch.from_numpy(assemble_inputs(img, lab, guid, zs, self.context))
        device = torch.device(self.device)
        net = self._net()
        with _one_cpu_thread(device), torch.inference_mode():
            x = x.to(device, memory_format=torch.channels_last)
            if uses_amp(device):
                from models.inference import autocast_dtype

                with torch.autocast(device_type=device.type, dtype=autocast_dtype(device)):
                    logits = net(x)
            else:
                logits = net(x)
            logits = logits.float()
            out = logits.argmax(dim=1).to(torch.uint8).cpu().numpy()  # (N, X, Y)
            probs = None
            if probabilities:
                start, stop = getattr(net, "prior_channels", None) or (0, 0)
                body = logits - net.prior(x[:, start:stop]).float() if stop > start else logits
                probs = torch.softmax(body, dim=1).cpu().numpy()  # (N, C, X, Y)
        sx, sy = box[0].stop - box[0].start, box[1].stop - box[1].start
        labels_out = np.ascontiguousarray(out[:, :sx, :sy].transpose(1, 2, 0))
        if probs is not None:
            probs = np.ascontiguousarray(probs[:, :, :sx, :sy].transpose(1, 2, 3, 0))
        return labels_out, probs

    def _in_shown_meaning(self, predicted: np.ndarray, focus: Sequence[G.Guidance]) -> np.ndarray:
        """The network's labels in the meaning of label 1 that the corrected map uses.

        The model answers as it learnt (BraTS 2013-2020: label 1 = necrosis and non-enhancing
        core); a map shown in the 2021+ meaning had its label 1 outside the enhancing rim turned
        into edema by the automatic prediction's post-processing, so without the same rule here
        a click near the rim would turn that edema back into label 1. A click or scribble that
        says "label 1 here" is the user's own answer to that question: its window is left as the
        network grows it.
        """
        if self.ncr_definition != "brats2021" or self.model_ncr_definition != "brats2013":
            return predicted
        if any(item.label == 1 for item in focus):
            return predicted
        from brats_desktop.core.postprocessing import necrosis_inside_enhancing

        return necrosis_inside_enhancing(predicted)

    def set_prior(self, images: Mapping[str, np.ndarray], probabilities: np.ndarray | None) -> None:
        """Class probabilities (classes, X, Y, Z) of an automatic segmentation of ``images`` for growing clicks.

        Used only while refining these very image arrays (held, so their ids stay theirs);
        None forgets them. Without them a click grows within the network's window only.
        """
        with self._lock:
            self._keep_prior(images, probabilities)

    def _keep_prior(self, images: Mapping[str, np.ndarray], probabilities: np.ndarray | None) -> None:
        if probabilities is None:
            self._prior_key, self._prior = None, None
            return
        arrays = tuple(images[m] for m in self.modalities if m in images)
        self._prior_key = _identity(arrays)
        self._prior = (arrays, probabilities)

    def own_prior(self, images: Mapping[str, np.ndarray]) -> np.ndarray:
        """The network's own class probabilities over the whole volume, kept as the prior for ``images``.

        For a map with no automatic segmentation behind it (a ground truth or a new
        annotation being corrected, a patient not yet segmented) the clicks would otherwise
        grow with the network's probabilities inside its window only, which gains less out
        of fold (README, AI correction).
        The network's answer without its labels/guidance shortcut is, for the warm-started
        model, the automatic model's. Computed once per set of image arrays (seconds on a
        CPU: callers run it in the background) and replaced by :meth:`set_prior`.
        """
        with self._lock:
            norm = self._normalised(images)
            found = self._prior_for(images, norm.shape[1:])
            if found is not None:
                return found
            probabilities = self._volume_probabilities(norm)
            self._keep_prior(images, probabilities)
            return probabilities

    def prior_ready(self, images: Mapping[str, np.ndarray]) -> bool:
        """Whether clicks on ``images`` already have probabilities to grow with (given or the engine's own)."""
        with self._lock:
            return self._prior is not None and self._identity_of(images) == self._prior_key

    def _volume_probabilities(self, norm: np.ndarray, slab: int = 16) -> np.ndarray:
        """(classes, X, Y, Z) float16 softmax of the network without its shortcut, in slabs of ``slab``
        slices, on the automatic model's own geometry (the brain box plus its margin, padded evenly to
        the size multiple, context repeated at the box's ends), so a warm-started network's answer is
        the automatic model's; background, certain, outside the box."""
        shape = norm.shape[1:]
        out = np.zeros((int(self.model.metadata["architecture"]["num_classes"]), *shape), dtype=np.float16)
        out[0] = 1.0
        inside = np.any(norm != 0, axis=0)  # normalised images are 0 outside the brain
        if not inside.any():
            return out
        box = bounding_box(inside, self.preprocessing.margin)
        crop = norm[(slice(None), *box)]
        multiple = int(np.lcm(self.preprocessing.size_multiple, self.size_multiple))
        widths = even_padding(crop.shape[1:3], multiple)
        padded = np.pad(crop, [(0, 0), *widths, (0, 0)])
        labels = np.zeros(padded.shape[1:], dtype=np.uint8)  # not read: the shortcut is taken off
        plane = (slice(0, padded.shape[1]), slice(0, padded.shape[2]))
        inner = tuple(slice(w[0], w[0] + n) for w, n in zip(widths, crop.shape[1:3]))
        for z in range(0, crop.shape[3], slab):
            part = slice(z, min(z + slab, crop.shape[3]))
            _, probs = self._predict(padded, labels, [], (*plane, part), probabilities=True)
            where = (slice(None), box[0], box[1], slice(box[2].start + part.start, box[2].start + part.stop))
            out[where] = probs[(slice(None), *inner)]
        return out

    def _identity_of(self, images: Mapping[str, np.ndarray]) -> tuple:
        return _identity(tuple(images[m] for m in self.modalities if m in images))

    def _prior_for(self, images: Mapping[str, np.ndarray], shape: Sequence[int]) -> np.ndarray | None:
        if self._prior is None:
            return None
        if self._identity_of(images) != self._prior_key or self._prior[1].shape[1:] != tuple(shape):
            return None
        return self._prior[1]

    def _grow(self, norm: np.ndarray, labels: np.ndarray, out: np.ndarray, item: G.Guidance,
              prior: np.ndarray | None, window: tuple[np.ndarray, tuple[slice, slice, slice]] | None,
              locked: np.ndarray | None, earlier: Sequence[G.Guidance] = ()) -> np.ndarray | None:
        """Relabel in ``out`` the piece ``item`` grows over; returns its (n, 3) voxels or None.

        ``earlier`` guidance of other labels keeps what is nearer to it (see :func:`.grow.grow_region`).
        """
        points = G.exact_voxels(item)
        points = points[np.all((points >= 0) & (points < np.asarray(labels.shape)), axis=1)]
        if not len(points):
            return None
        box = grow_box(points, labels.shape, self.grow.box_reach)
        if prior is not None:
            probs = prior[(slice(None), *box)]
        elif window is not None:  # the network's own probabilities, inside its window only
            probs_w, wbox = window
            box = tuple(slice(max(a.start, b.start), min(a.stop, b.stop)) for a, b in zip(box, wbox))  # type: ignore[assignment]
            if any(s.stop <= s.start for s in box):
                return None
            probs = probs_w[(slice(None), *(slice(a.start - b.start, a.stop - b.start) for a, b in zip(box, wbox)))]
        else:
            return None
        origin = np.array([s.start for s in box])
        rivals = [G.exact_voxels(g) for g in earlier if g.label != item.label]
        others = np.concatenate(rivals) - origin if rivals else None
        region = grow_region(probs, labels[box], points - origin, item.label, self.grow, others=others,
                             images=norm[(slice(None), *box)] if self.grow.uses_images else None,
                             locked=None if locked is None else locked[box])
        if not region.any():
            return None
        idx = np.argwhere(region) + origin
        out[tuple(idx.T)] = item.label
        return idx

    def prepare(self, images: Mapping[str, np.ndarray]) -> None:
        """Normalise ``images`` now (cached for these arrays), so the first click costs what later ones do."""
        with self._lock:
            self._normalised(images)

    # ------------------------------------------------------------------ the one public operation

    def refine(
        self,
        images: Mapping[str, np.ndarray],
        labels: np.ndarray,
        guidance: Sequence[G.Guidance],
        locked: np.ndarray | None = None,
        *,
        new: int | None = None,
    ) -> RefineResult:
        """Apply all ``guidance`` (cumulative, oldest first) to ``labels``; the network re-runs around the new items.

        ``labels`` is not modified. ``new`` is how many of the last items arrived since the
        previous call; by default, when the previous call's guidance is a prefix of this
        one (clicks merged while a run was busy), every item after it is new, otherwise
        the last one is. Raises ``MissingModalityError`` when ``images`` lack the model's inputs.
        """
        t0 = time.perf_counter()
        guidance = list(guidance)
        labels = np.asarray(labels)
        if labels.ndim != 3:
            raise ValueError(f"labels must be a 3-D label map, got shape {labels.shape}")
        if locked is not None and locked.shape != labels.shape:
            raise ValueError(f"locked mask shape {locked.shape} != labels shape {labels.shape}")
        out = labels.copy()
        if not guidance:
            return RefineResult(out, EMPTY_BOX, time.perf_counter() - t0)
        bbox: tuple[slice, slice, slice] | None = None
        with self._lock:
            if new is None:
                prev = self._last_guidance
                grown = 0 < len(prev) < len(guidance) and tuple(guidance[: len(prev)]) == prev
                new = len(guidance) - len(prev) if grown else 1
            self._last_guidance = tuple(guidance)
            focus = [g for g in guidance[-max(int(new), 1):] if _inside_any(g, labels.shape)]
            if focus:
                norm = self._normalised(images)
                if norm.shape[1:] != labels.shape:
                    raise ValueError(f"labels shape {labels.shape} != image shape {norm.shape[1:]}")
                prior = self._prior_for(images, labels.shape) if self.grow.enabled else None
                windows: list[tuple[np.ndarray, tuple[slice, slice, slice]]] = []
                for box in self._windows(labels.shape, focus):
                    raw, probs = self._predict(norm, out, guidance, box, self.grow.enabled and prior is None)
                    if probs is not None:
                        windows.append((probs, box))
                    predicted = self._in_shown_meaning(raw, focus)
                    old = out[box]
                    if self.local:
                        origin = [s.start for s in box]
                        seeds = G.rasterise(focus, origin, old.shape).sum(axis=0) > 0
                        within = None
                        if self.reach is not None:
                            points = np.concatenate([G.exact_voxels(g) for g in focus])
                            within = near(points, old.shape, self.reach, origin)
                        keep = connected_changes(old, predicted, seeds, within)
                    else:
                        keep = old != predicted
                    if locked is not None:
                        keep &= ~locked[box]
                    old[keep] = predicted[keep]  # a view: writes into out
                    lo, hi = np.array([s.start for s in box]), np.array([s.stop - 1 for s in box])
                    bbox = _union(bbox, lo, hi)
                if self.grow.enabled:
                    for n, item in enumerate(focus):  # each grows over the piece it was put on, as the map showed it
                        window = next((w for w in windows if _contains(w[1], G.exact_voxels(item))), None)
                        earlier = guidance[: len(guidance) - len(focus) + n]
                        idx = self._grow(norm, labels, out, item, prior, window, locked, earlier)
                        if idx is not None:
                            bbox = _union(bbox, idx.min(axis=0), idx.max(axis=0))
        for item in guidance:  # pointed-at voxels get their label, locked or not
            pts = G.exact_voxels(item)
            ok = np.all((pts >= 0) & (pts < np.asarray(labels.shape)), axis=1)
            pts = pts[ok]
            pts = pts[out[pts[:, 0], pts[:, 1], pts[:, 2]] != item.label]
            if len(pts):
                out[pts[:, 0], pts[:, 1], pts[:, 2]] = item.label
                bbox = _union(bbox, pts.min(axis=0), pts.max(axis=0))
        return RefineResult(out, bbox if bbox is not None else EMPTY_BOX, time.perf_counter() - t0)


@contextlib.contextmanager
def _one_cpu_thread(device: Any) -> Iterator[None]:
    """Run a window on one CPU thread of this thread's own, and give the setting back after.

    A 96x96x7 window is too small to share: on an idle 2-core machine two threads save 8 ms
    of 26, and on a busy one they wait for each other (beside two busy processes, 20 clicks of
    bench/bench_click.py: p95 0.82 s with two threads, 0.056 s with one). With torch's OpenMP
    backend the thread count is per calling thread (oneDNN's convolutions follow it), so a
    Segment run in another worker keeps its own; with any other backend the setting is
    process-wide and is left alone.
    """
    import torch

    before = torch.get_num_threads()
    if torch.device(device).type != "cpu" or before <= 1 or not _thread_local_count():
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@functools.cache
def _thread_local_count() -> bool:
    """Whether torch.set_num_threads applies to the calling thread only (the OpenMP backend)."""
    import torch

    return "parallel backend: OpenMP" in torch.__config__.parallel_info()


def _identity(arrays: Sequence[np.ndarray]) -> tuple:
    """Which arrays these are (ids and shapes): valid while the caller holds the arrays themselves."""
    return tuple((id(a), a.shape) for a in arrays)


def _inside_any(item: G.Guidance, shape: Sequence[int]) -> bool:
    pts = G.exact_voxels(item)
    return bool(np.any(np.all((pts >= 0) & (pts < np.asarray(shape)), axis=1)))


def _contains(box: tuple[slice, slice, slice], points: np.ndarray) -> bool:
    return bool(all(((points[:, a] >= box[a].start) & (points[:, a] < box[a].stop)).all() for a in range(3)))
