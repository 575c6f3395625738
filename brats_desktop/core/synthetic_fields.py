"""Where the tissues of a synthetic case are: coarse-grid fields of anatomy and tumour.

Part of the synthetic generator (:mod:`brats_desktop.core.synthetic` assembles a case):
smooth random fields drawn on a coarse grid and upsampled linearly only inside the boxes
where they matter, signed distances in voxels (positive inside), and the drawn tumour
parameters. Speed is why: a whole BraTS-sized case must come out in well under a second.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy import ndimage


# Fields drawn on the coarse grid and interpolated to voxels (signed distances in voxels,
# positive inside, unless said otherwise).
FIELDS: tuple[str, ...] = (
    "depth",  # below the brain surface
    "fold",  # to the nearest sulcus (unsigned use)
    "sulc_rel",  # sulcal depth minus depth: positive where sulci reach
    "bias",  # smooth unit noise: the bias field
    "texture",  # fine unit noise: vessels in T1CE
    "vent",  # inside the lateral ventricles
    "deep",  # inside deep grey nuclei
    "fissure",  # inside the interhemispheric fissure
    "core",  # inside the tumour core
    "nec",  # inside the necrosis
    "gaps",  # unit noise: holes in the enhancing rim
    "edema",  # inside the edema's reach
    "hetero",  # unit noise inside the tumour: heterogeneity
)



class Grid:
    """A coarse grid over the volume and a fast linear upsampler onto a crop of it.

    Coarse node ``i`` sits on full-resolution voxel ``i * step``; there is one node
    past the end of each axis, so every voxel lies between two nodes.
    """

    def __init__(self, shape: tuple[int, int, int], step: int) -> None:
        self.shape = shape
        self.step = max(1, int(step))
        self.coarse_shape = tuple(n // self.step + 2 for n in shape)

    def coords(self, cbox: tuple[slice, ...] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Open-mesh voxel coordinates of the coarse nodes (of ``cbox``, default all)."""
        cbox = cbox or tuple(slice(0, m) for m in self.coarse_shape)
        x, y, z = (np.arange(s.start, s.stop, dtype=np.float32) * self.step for s in cbox)
        return x[:, None, None], y[None, :, None], z[None, None, :]

    def cbox_around(self, lo: np.ndarray, hi: np.ndarray) -> tuple[slice, ...]:
        """Smallest coarse box whose nodes enclose voxels ``lo``..``hi`` (inclusive)."""
        a = np.clip(np.floor(np.asarray(lo) / self.step).astype(int), 0, np.array(self.coarse_shape) - 2)
        b = np.clip(np.ceil(np.asarray(hi) / self.step).astype(int) + 1, a + 2, self.coarse_shape)
        return tuple(slice(int(i), int(j)) for i, j in zip(a, b))

    def voxels(self, cbox: tuple[slice, ...]) -> tuple[slice, ...]:
        """Voxels that ``upsample`` fills for a coarse box (clipped to the volume)."""
        return tuple(
            slice(s.start * self.step, min((s.stop - 1) * self.step, n)) for s, n in zip(cbox, self.shape)
        )

    def upsample(self, fields: np.ndarray) -> np.ndarray:
        """Coarse fields (k, a, b, c) -> (k, (a-1)s, (b-1)s, (c-1)s) voxels, linearly."""
        return linear_upsample(fields, self.step)



def linear_upsample(fields: np.ndarray, s: int) -> np.ndarray:
    """Linear interpolation of (k, a, b, c) node values by an integer factor ``s``.

    Each axis is one broadcast ``lo + (hi - lo) * w`` over a new length-``s`` axis
    followed by a free reshape: no index gathers, so it runs at memory speed.
    """
    f = fields.astype(np.float32, copy=False)
    if s == 1:
        return np.ascontiguousarray(f[:, :-1, :-1, :-1])
    w = np.arange(s, dtype=np.float32) / np.float32(s)
    k, a, b, c = f.shape
    f = f[..., :-1, None] + (f[..., 1:, None] - f[..., :-1, None]) * w
    f = f.reshape(k, a, b, (c - 1) * s)
    f = f[:, :, :-1, None, :] + (f[:, :, 1:, None, :] - f[:, :, :-1, None, :]) * w[:, None]
    f = f.reshape(k, a, (b - 1) * s, (c - 1) * s)
    f = f[:, :-1, None] + (f[:, 1:, None] - f[:, :-1, None]) * w[:, None, None]
    return f.reshape(k, (a - 1) * s, (b - 1) * s, (c - 1) * s)



def smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> np.ndarray:
    """Gaussian random field with unit standard deviation, correlation ``sigma`` (grid units).

    Wide correlations are drawn on a grid coarser by an integer factor and
    upsampled linearly, so the cost does not grow with ``sigma``.
    """
    factor = max(1, int(sigma // 1.5))
    small = tuple(n // factor + 2 for n in shape)
    noise = ndimage.gaussian_filter(
        rng.standard_normal(small, dtype=np.float32), sigma / factor, mode="wrap", truncate=3.0
    )
    if factor > 1:
        noise = linear_upsample(noise.reshape((1,) + small) if noise.ndim == 3 else noise[None], factor)[0]
    noise = noise[tuple(slice(0, n) for n in shape)]
    return (noise - noise.mean()) / max(float(noise.std()), 1e-6)



def ramp(signed: np.ndarray, width: float) -> np.ndarray:
    """Soft inside-indicator of a signed distance (voxels, positive inside): partial volume."""
    out = signed * np.float32(1.0 / width)
    out += np.float32(0.5)
    return np.clip(out, 0.0, 1.0, out=out)


TUMOUR_KEYS: tuple[str, ...] = (
    "wt_ml", "necrosis", "enhancing", "core_fraction", "rim_fraction", "lobulation", "rim_cover", "edema_spread",
)



def draw_tumour(rng: np.random.Generator, overrides: Mapping[str, float | bool] | None = None) -> dict:
    """Tumour parameters: size, which parts exist, their proportions.

    Every parameter is drawn whatever ``overrides`` says, so overriding one (the demo
    asks for a rim and a necrotic core) leaves the rest of the case unchanged.
    """
    p: dict = dict(
        # Target size; edema fingers and the shell around the core make the labelled whole
        # tumour about 1-1.8x this, i.e. roughly 10-150 mL as in BraTS.
        wt_ml=float(np.exp(rng.uniform(np.log(7.0), np.log(110.0)))),
        necrosis=bool(rng.random() < 0.8),
        enhancing=bool(rng.random() < 0.88),
        core_fraction=float(rng.uniform(0.45, 0.8)),  # core radius / whole-tumour radius
        rim_fraction=float(rng.uniform(0.22, 0.55)),  # enhancing rim thickness / core radius
        lobulation=float(rng.uniform(0.12, 0.4)),
        rim_cover=float(rng.uniform(0.0, 2.2)),  # higher: fewer gaps in the enhancing rim
        edema_spread=float(rng.uniform(0.15, 0.45)),  # how much grey matter holds edema back
    )
    unknown = sorted(set(overrides or {}) - set(TUMOUR_KEYS))
    if unknown:
        raise ValueError(f"unknown tumour parameter(s) {unknown}; choose from {TUMOUR_KEYS}")
    p.update(overrides or {})
    if not p["necrosis"] and not p["enhancing"]:
        p["necrosis"] = True  # a non-enhancing tumour's core is still labelled NCR/NET
    r_wt = (3.0 * p["wt_ml"] * 1000.0 / (4.0 * np.pi)) ** (1.0 / 3.0)  # mm
    p["r_edema"] = r_wt
    p["r_core"] = r_wt * p["core_fraction"]
    p["rim"] = p["r_core"] * (p["rim_fraction"] if p["necrosis"] else 5.0)  # no necrosis: solid core
    return p



class Anatomy:
    """Normal brain anatomy as coarse-grid fields (signed distances in voxels, positive inside)."""

    def __init__(self, rng: np.random.Generator, grid: Grid, k: float) -> None:
        self.grid, self.k = grid, k
        g, cs, shape = grid.step, grid.coarse_shape, grid.shape
        X, Y, Z = grid.coords()
        self.X, self.Y, self.Z = X, Y, Z
        c = np.array(shape, dtype=np.float32) * np.array([0.5, 0.455, 0.5], dtype=np.float32)
        c += rng.normal(0.0, 2.5 * k, 3).astype(np.float32)
        self.centre = c
        size = rng.uniform(0.93, 1.07)
        semi = np.array([64, 88, 59], dtype=np.float32) * k * size * rng.uniform(0.95, 1.05, 3).astype(np.float32)
        self.semi = semi
        self.mid = float(c[0])
        # Cerebrum: an ellipsoid, widest behind its centre (y runs anterior), with a
        # flattened frontal base.
        dx, dy, dz = (X - c[0]) / semi[0], (Y - c[1]) / semi[1], (Z - c[2]) / semi[2]
        dx = dx / (1.0 - 0.12 * dy)
        dz = np.where(dz < 0, dz * (1.25 + 0.25 * np.maximum(dy, 0)), dz)
        rho = np.sqrt(dx * dx + dy * dy + dz * dz)
        depth = (1.0 - rho) * semi[0] * 0.9
        # Notch between the temporal lobes under the cerebrum (where the brainstem runs).
        depth -= np.maximum(0.0, (c[2] - 18 * k) - Z) * 1.6 * np.exp(-(((X - c[0]) / (22 * k)) ** 2))
        # Cerebellum (posterior, inferior) and brainstem.
        ce = np.array([c[0], c[1] - 50 * k, c[2] - 30 * k])
        ca = np.array([48, 28, 21]) * k * size
        rc = np.sqrt(((X - ce[0]) / ca[0]) ** 2 + ((Y - ce[1]) / ca[1]) ** 2 + ((Z - ce[2]) / ca[2]) ** 2)
        depth = np.maximum(depth, (1.0 - rc) * ca[2])
        bs = np.sqrt(((X - c[0]) / (12 * k)) ** 2 + ((Y - (c[1] - 12 * k)) / (13 * k)) ** 2)
        bs_depth = np.minimum((1.0 - bs) * 12 * k, np.minimum(Z - (c[2] - 62 * k), c[2] - Z))
        depth = np.maximum(depth, bs_depth)
        # Outline irregularity, nearly mirror-symmetric like an atlas-registered brain.
        bumps = smooth_noise(rng, cs, 14.0 * k / g)
        mirror = np.clip(np.round(2 * c[0] / g - np.arange(cs[0])).astype(int), 0, cs[0] - 1)
        depth += 2.0 * k * (0.5 * (bumps + bumps[mirror]) + 0.15 * bumps)
        self.depth = depth.astype(np.float32)
        # Folding: sulci are the zero crossings of a random field that varies only along
        # the surface (sampled on a sphere, constant along rays), so they cut radially
        # into the cortex as in real brains. Normalised so |fold| ~ voxels to a sulcus.
        self.fold_radius = 60.0 * k
        noise = smooth_noise(rng, cs, max(0.7, 2.9 * k / g))
        gx, gy, gz = np.gradient(noise, g)
        self.fold_noise = noise / max(float(np.mean(np.sqrt(gx * gx + gy * gy + gz * gz))), 1e-6)
        self.fold: np.ndarray | None = None  # computed once the tumour's mass effect is known
        self.sulcal_depth = ((11.0 + 4.0 * smooth_noise(rng, cs, 8.0 * k / g)) * k).astype(np.float32)
        self.bias = smooth_noise(rng, cs, 45.0 * k / g)
        self.texture = smooth_noise(rng, cs, max(0.6, 2.0 * k / g))
        self.cortex = float(rng.uniform(2.6, 3.8))
        self.vsize = float(rng.uniform(0.8, 1.5))  # ventricle size (atrophy varies)
        self.midwobble = 1.5 * k * smooth_noise(rng, (1,) + cs[1:], 4.0)
        self.vent_noise = smooth_noise(rng, cs, max(0.8, 4.0 * k / g))
        # Warped coordinates (mass effect); identity until apply_mass_effect.
        self.wx, self.wy, self.wz = X, Y, Z

    def place_tumour(self, rng: np.random.Generator, r_core: float, r_edema: float) -> np.ndarray:
        """A tumour centre in hemispheric white matter: deep enough, off the midline, off the ventricles."""
        k, c = self.k, self.centre
        X, Y, Z = self.X, self.Y, self.Z
        for margin in (1.0, 0.6, 0.3, 0.0):
            ok = (self.depth > margin * r_core + 12 * k) & (np.abs(X - self.mid) > margin * r_core + 10 * k)
            ok &= Z > c[2] - 25 * k
            # Keep the core out of the ventricles / deep nuclei region at the centre.
            central = ((X - c[0]) / (16 * k)) ** 2 + ((Y - c[1]) / (30 * k)) ** 2 + ((Z - c[2] - 8 * k) / (14 * k)) ** 2
            ok &= central > (1.0 + margin * r_core / (15 * k)) ** 2
            idx = np.argwhere(ok)
            if len(idx):
                node = idx[rng.integers(len(idx))]
                jitter = rng.uniform(-0.5, 0.5, 3) * self.grid.step
                return (node * self.grid.step + jitter).astype(np.float32)
        return self.centre + np.array([20 * k, 0, 10 * k], dtype=np.float32)  # pragma: no cover

    def apply_mass_effect(self, tc: np.ndarray, r_core: float) -> None:
        """Pull sampling points toward the tumour so that structures near it look pushed away."""
        rx, ry, rz = self.X - tc[0], self.Y - tc[1], self.Z - tc[2]
        r = np.sqrt(rx * rx + ry * ry + rz * rz) + np.float32(1e-3)
        push = 0.7 * r_core * np.exp(-((r / (2.0 * r_core + 1e-3)) ** 2))
        shrink = np.maximum(0.0, 1.0 - push / r).astype(np.float32)
        self.wx, self.wy, self.wz = tc[0] + rx * shrink, tc[1] + ry * shrink, tc[2] + rz * shrink
        self.fold = self._folding(self.wx, self.wy, self.wz)

    def _folding(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Folding field at voxel positions: the surface pattern seen along the ray from the centre."""
        c, g, radius = self.centre, self.grid.step, self.fold_radius
        dx, dy, dz = (np.broadcast_to(a - b, self.depth.shape) for a, b in zip((x, y, z), c))
        r = np.sqrt(dx * dx + dy * dy + dz * dz) + np.float32(1e-3)
        # Half of the radial offset is kept, so sulci tilt and bend with depth instead of
        # being perfectly straight spokes.
        on_sphere = np.float32(radius) / r
        sample = (np.float32(radius) + np.float32(0.5) * (r - np.float32(radius))) / r
        coords = np.stack([(c[i] + d * sample) / g for i, d in enumerate((dx, dy, dz))])
        fold = ndimage.map_coordinates(self.fold_noise, coords, order=1, mode="nearest")
        return (fold / on_sphere).astype(np.float32)  # distances grow with the radius

    def _mid(self, box: tuple[slice, ...]) -> np.ndarray:
        return self.mid + self.midwobble[(slice(None),) + box[1:]]

    def central_fields(self, box: tuple[slice, ...]) -> list[np.ndarray]:
        """Ventricles (curved ellipsoids each side) and deep grey nuclei, inside ``box``."""
        k, c, vs = self.k, self.centre, self.vsize
        wx, wy, wz = (np.broadcast_to(a, self.depth.shape)[box] for a in (self.wx, self.wy, self.wz))
        mid = self._mid(box)
        vy = (wy - c[1] - 4 * k) / (32 * k * vs ** 0.5)
        vz0 = c[2] + (8 + 14 * vy * vy) * k  # horns curve down at both ends
        vent = np.full(wx.shape, np.inf, dtype=np.float32)
        for side in (-1, 1):
            vx = (wx - (mid + side * (7 + 2 * vs) * k)) / ((6.5 + 3 * vy * vy) * k * vs)
            vz = (wz - vz0) / (8.5 * k * vs)
            vent = np.minimum(vent, np.sqrt(vx * vx + vy * vy + vz * vz))
        vent = vent + 0.12 * self.vent_noise[box]
        deep = np.full(wx.shape, np.inf, dtype=np.float32)
        for side in (-1, 1):
            for ox, oy, oz, (ax, ay, az) in ((13, -2, -4, (8, 13, 9)), (22, 16, -2, (6, 13, 10))):
                ex = (wx - (mid + side * (ox + vs * 2) * k)) / (ax * k)
                ey = (wy - (c[1] + oy * k)) / (ay * k)
                ez = (wz - (c[2] + oz * k)) / (az * k)
                deep = np.minimum(deep, np.sqrt(ex * ex + ey * ey + ez * ez))
        return [(1.0 - vent) * 6.0 * k * vs, (1.0 - deep) * 8.0 * k]

    def fissure_field(self, box: tuple[slice, ...]) -> list[np.ndarray]:
        """Interhemispheric fissure: a CSF sheet on the midline above the corpus callosum."""
        k, c, semi = self.k, self.centre, self.semi
        wx, wy, wz = (np.broadcast_to(a, self.depth.shape)[box] for a in (self.wx, self.wy, self.wz))
        half_width = 0.9 * k
        dist = half_width - np.abs(wx - self._mid(box))
        above_cc = wz - (c[2] + (20 - 30 * ((wy - c[1]) / semi[1]) ** 2) * k)
        return [np.minimum(dist, above_cc)]



class TumourFields:
    """Tumour level sets inside a box: lobulated core, necrosis, rim gaps, edema, texture."""

    def __init__(self, rng: np.random.Generator, grid: Grid, tc: np.ndarray, tumour: dict, k: float) -> None:
        self.rng, self.grid, self.tc, self.t, self.k = rng, grid, tc, tumour, k

    def __call__(self, box: tuple[slice, ...]) -> list[np.ndarray]:
        rng, g, t, k, tc = self.rng, self.grid.step, self.t, self.k, self.tc
        X, Y, Z = self.grid.coords(box)
        shape = tuple(s.stop - s.start for s in box)
        r = np.sqrt((X - tc[0]) ** 2 + (Y - tc[1]) ** 2 + (Z - tc[2]) ** 2)
        r_core, r_ed = t["r_core"] * k, t["r_edema"] * k
        lobes = smooth_noise(rng, shape, max(0.8, r_core / (2.0 * g)))
        core = r_core * (1.0 + t["lobulation"] * lobes) - r
        rim = t["rim"] * k * (1.0 + 0.6 * smooth_noise(rng, shape, max(0.7, r_core / (4.0 * g))))
        nec = core - np.maximum(rim, 1.2 * k)
        gaps = smooth_noise(rng, shape, max(0.7, 5.0 * k / g))
        coarse_lobes = smooth_noise(rng, shape, max(0.8, r_ed / (2.5 * g)))
        fingers = smooth_noise(rng, shape, max(0.7, 6.0 * k / g))
        edema = r_ed * (1.0 + 0.35 * coarse_lobes + 0.2 * fingers) - r
        hetero = smooth_noise(rng, shape, max(0.6, 2.0 * k / g)) * (r < r_ed + 3 * g)
        return [core, nec, gaps, edema, hetero]
