"""Matting in the uncertain band: closed-form alpha (Levin et al.) re-solved only near the mask's edge.

The refinement's best-edges step (``RefineSettings.matting``, on by default since the full benchmark). Public functions:

- ``trimap_from_alpha(alpha, band_px)``: uint8 trimap, unknown = within `band_px` of the 0.5 contour
  plus pixels already soft (0.02 < alpha < 0.98); everything else keeps its value.
- ``matte_band(image, alpha, band_px, ...)``: alpha re-solved on the unknown pixels, known ones exact.
- ``band_tiles(trimap, tile_px)``, ``matting_laplacian(image, p, radius, eps)``: the tiles that get
  solved, and the Laplacian itself (for tests and inspection).

**Model.** The closed-form matting energy αᵀLα (Levin, Lischinski, Weiss 2008: within each window
alpha is an affine function of the colour, regularised by `smoothness`), with the known pixels as hard
constraints and a weak pull (`prior` = 1e-4 per pixel) toward the refined mask on the unknown ones:
it keeps the system positive definite and decides where the colours cannot. L is applied matrix-free
with box filters (He, Sun, Tang 2010), windows clipped at the photo's border so that L stays exactly
symmetric, and the system is solved by Jacobi-preconditioned conjugate gradient started from the
refined mask, to a relative residual of 1e-3 (about 20-50 iterations).

**Cost bounded by the band.** Only the grid tiles holding unknown pixels are solved: they are gathered,
each with a 2r halo, into one stack that the box filters treat as a single tall image; every product
writes the tiles' cores into a padded buffer and reads the halos back, so the solution is the exact
global one (no seams) and the work is proportional to the band's tiles, not the photo
(``tests/test_matting.py``: the same band in a 200² and a 2000² photo gives the same tiles). The
trimap and the final write are plain passes over the photo.

**Reduced resolution, full-size detail.** The solve runs at 1/k size, k = band_px / 3 rounded
(`SOLVE_BAND_PX`): a few pixels across the band at the solve's scale, where solving finer stopped
gaining. At the solution α = b + a·I exactly (window means of the affine fits), so the solution's
coefficients (b, a) are upsampled bilinearly, tile by tile, and applied to the full-size colours: the
guided-upsampling step of the fast guided filter. Larger effective windows average out colour noise,
and the full-size colours bring fine strands back, so this is both faster and better than solving at
full size.

**Feathering.** Matting runs after feather, on the feathered mask: the feathered (soft) pixels join
the unknown band and are re-solved, so inside the band the solution replaces the Gaussian edge (it
is not blurred again afterwards; blurring a solved matte only undoes it), outside it nothing changes.

Measurements behind these choices (quality, band and scale sweeps, time):
bench/results/design-measurements.md.
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

from core.errors import SettingsError
from core.arrays import as_alpha, check_number, sym3_inverse

__all__ = ["band_tiles", "matte_band", "matting_laplacian", "trimap_from_alpha"]

UNKNOWN = 128
SOFT_LOW, SOFT_HIGH = 0.02, 0.98
SOLVE_BAND_PX = 3.0
DEFAULT_SMOOTHNESS = 1e-4
DEFAULT_PRIOR = 1e-4
UPSAMPLE_CHUNK_PX = 1 << 18  # the guided upsampling applies the colour model to about this many pixels at a time


def _check_image(image: Any, shape: tuple[int, int]) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise SettingsError(f"Matting needs the photo as uint8 HxWx3 (RGB), got {got}.")
    if image.shape[:2] != shape:
        raise SettingsError(f"Matting needs the photo at the mask's size {shape}, got {image.shape[:2]}.")
    return image


def trimap_from_alpha(alpha: np.ndarray, band_px: float) -> np.ndarray:
    """alpha float32 HxW in [0, 1] → trimap uint8 HxW: 0 background, 255 foreground, 128 unknown.

    Unknown: pixels within `band_px` of the 0.5 contour (distance to the nearest pixel that touches
    the other side, 3x3 neighbourhood), plus pixels already soft (0.02 < alpha < 0.98).
    """
    a = as_alpha(alpha)
    band = check_number(band_px, "band_px", 0.0)
    fg = (a >= 0.5).astype(np.uint8)
    unknown = (a > SOFT_LOW) & (a < SOFT_HIGH)
    if band > 0:
        square = np.ones((3, 3), np.uint8)
        edge = cv2.dilate(fg, square, borderType=cv2.BORDER_REPLICATE) != cv2.erode(fg, square, borderType=cv2.BORDER_REPLICATE)
        if edge.any():
            # one pass for both sides; the 5x5 mask is within 2 % of the Euclidean distance
            distance = cv2.distanceTransform((~edge).view(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_5)
            unknown |= distance <= band
    trimap = fg * np.uint8(255)
    trimap[unknown] = UNKNOWN
    return trimap


def band_tiles(trimap: np.ndarray, tile_px: int) -> np.ndarray:
    """trimap uint8 HxW → int64 (n, 2): (row, col) of every tile_px × tile_px grid cell holding an unknown pixel."""
    if not isinstance(trimap, np.ndarray) or trimap.ndim != 2:
        raise SettingsError("trimap must be a uint8 HxW array (0, 128, 255).")
    tile = int(tile_px)
    if tile < 1:
        raise SettingsError(f"tile_px must be at least 1, got {tile_px!r}.")
    h, w = trimap.shape
    ny, nx = -(-h // tile), -(-w // tile)
    unknown = np.zeros((ny * tile, nx * tile), bool)
    unknown[:h, :w] = trimap == UNKNOWN
    cells = unknown.reshape(ny, tile, nx, tile).any(axis=(1, 3))
    return np.argwhere(cells).astype(np.int64)


# ------------------------------------------------------------------------------------ the solver


def _box_sum(plane: np.ndarray, radius: int, out: np.ndarray | None = None) -> np.ndarray:
    """Unnormalised (2r+1)² window sums of each tile of an (S, n, S) stack (zero outside the stack).

    The tiles lie side by side as one wide image (row y of every tile, then row y + 1): windows that
    straddle two tiles mix them, which touches only each tile's outer `radius` columns (halo that the
    callers discard). Wide rather than tall because OpenCV's filters pay per row: a 12-pixel-wide
    tall stack took ten times as long.
    """
    s, n, _ = plane.shape
    size = 2 * radius + 1
    flat_out = None if out is None else out.reshape(s, n * s)
    res = cv2.boxFilter(plane.reshape(s, n * s), -1, (size, size), dst=flat_out, normalize=False,
                        borderType=cv2.BORDER_CONSTANT)
    return res.reshape(s, n, s)


class _Laplacian:
    """The matting Laplacian divided by the window area, L/(2r+1)², on an (S, n, S) stack of tiles with halos.

    (L p)_i = Σ over windows k holding i of (p_i − p̄_k − a_k·(I_i − μ_k)), where a_k is the ridge
    regression slope of p on the colours I in window k, a_k = (Σ_k + eps)⁻¹ cov_k(I, p), and p̄_k,
    μ_k the window means (Levin, Lischinski, Weiss 2008, in the box-filter form of He, Sun, Tang
    2010): nine box filters and about thirty array passes per product, whatever the radius. The
    window-centred form keeps float32 round-off small where it matters (flat windows, where
    I_i − μ_k ≈ 0); the colour statistics are computed once in float64. Windows are clipped at the
    photo's border (centres inside the photo only), which keeps L exactly symmetric positive
    semi-definite.
    """

    def __init__(self, guide: np.ndarray, valid: np.ndarray, radius: int, eps: float, diagonal: bool = True) -> None:
        # guide (3, S, n, S) float32 in [0, 1], zero outside the photo; valid (S, n, S) float32 0/1;
        # diagonal: also L's diagonal (the solver's preconditioner), not needed for the coefficients
        self.r, self.guide = radius, guide
        g = guide.astype(np.float64)
        v = valid.astype(np.float64)
        count = _box_sum(v, radius)
        inv = np.where(count > 0, 1.0 / np.maximum(count, 1.0), 0.0)
        mean = [_box_sum(g[c], radius) * inv for c in range(3)]
        cov = {}
        for i, j in ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)):
            cov[i, j] = _box_sum(g[i] * g[j], radius) * inv - mean[i] * mean[j]
        rr, rg, rb = cov[0, 0] + eps, cov[0, 1], cov[0, 2]
        gg, gb, bb = cov[1, 1] + eps, cov[1, 2], cov[2, 2] + eps
        (c_rr, c_rg, c_rb, c_gg, c_gb, c_bb), det = sym3_inverse(rr, rg, rb, gg, gb, bb)  # det >= eps³
        norm = 1.0 / (2 * radius + 1) ** 2
        vn = v * norm  # windows centred outside the photo do not exist; 1/(2r+1)² folded in
        scale = inv * vn / det  # W = (Σ + eps)⁻¹ / count, the window's cov from plain sums
        w = {(0, 0): c_rr * scale, (0, 1): c_rg * scale, (0, 2): c_rb * scale,
             (1, 1): c_gg * scale, (1, 2): c_gb * scale, (2, 2): c_bb * scale}
        for i, j in ((1, 0), (2, 0), (2, 1)):
            w[i, j] = w[j, i]
        if diagonal:
            self.diag = self._diagonal(g, vn, inv, mean, w)
        self.w = {key: val.astype(np.float32) for key, val in w.items()}
        self.mean = [m.astype(np.float32) for m in mean]
        self.inv = (inv * vn).astype(np.float32)
        self.count = (count * norm).astype(np.float32)  # windows holding each pixel, / (2r+1)²
        shape = valid.shape
        self._s = np.empty((4,) + shape, np.float32)
        self._c = np.empty((5,) + shape, np.float32)
        self._t = np.empty((5,) + shape, np.float32)
        self._tmp = np.empty(shape, np.float32)

    def _diagonal(self, g: np.ndarray, vn: np.ndarray, inv: np.ndarray, mean: list, w: dict) -> np.ndarray:
        """Diagonal of L/(2r+1)², float32 (S, n, S), for the Jacobi preconditioner.

        Σ_k vn_k (1 − 1/count_k − (I_i − μ_k)ᵀ W_k count_k (I_i − μ_k)), expanded into box sums of
        window quantities (float64 in, as the colour statistics).
        """
        r = self.r
        wmu = [w[i, 0] * mean[0] + w[i, 1] * mean[1] + w[i, 2] * mean[2] for i in range(3)]
        diag = _box_sum(vn, r) - _box_sum(vn * inv, r)
        diag -= _box_sum(sum(wmu[i] * mean[i] for i in range(3)), r)
        for i in range(3):
            diag += 2 * _box_sum(wmu[i], r) * g[i]
            for j in range(3):
                diag -= _box_sum(w[i, j], r) * g[i] * g[j]
        return diag.astype(np.float32)

    def _window_fits(self, p: np.ndarray) -> np.ndarray:
        """p (S, n, S) → (5, S, n, S): Σ over the windows k holding i of (p̄_k, a_k, a_k·μ_k), / (2r+1)²."""
        s, c, t, tmp, w, mean = self._s, self._c, self._t, self._tmp, self.w, self.mean
        _box_sum(p, self.r, out=s[0])
        for ch in range(3):
            np.multiply(self.guide[ch], p, out=tmp)
            _box_sum(tmp, self.r, out=s[ch + 1])
            np.multiply(mean[ch], s[0], out=tmp)
            s[ch + 1] -= tmp  # count · cov(I, p) of the window
        np.multiply(self.inv, s[0], out=c[0])  # p̄
        c[4].fill(0.0)
        for i in range(3):
            np.multiply(w[i, 0], s[1], out=c[i + 1])
            for j in (1, 2):
                np.multiply(w[i, j], s[j + 1], out=tmp)
                c[i + 1] += tmp
            np.multiply(c[i + 1], mean[i], out=tmp)
            c[4] += tmp  # a·μ
        for i in range(5):
            _box_sum(c[i], self.r, out=t[i])
        return t

    def apply(self, p: np.ndarray) -> np.ndarray:
        """p (S, n, S) float32 → L p / (2r+1)², exact away from the tiles' outer 2r pixels."""
        t = self._window_fits(p)
        out = self.count * p
        out -= t[0]
        out += t[4]
        for ch in range(3):
            np.multiply(t[ch + 1], self.guide[ch], out=self._tmp)
            out -= self._tmp
        return out

    def coefficients(self, p: np.ndarray) -> np.ndarray:
        """p (S, n, S) → (4, S, n, S) float32: the mean (b, a_R, a_G, a_B) of the windows holding each pixel.

        At the solution of L α = 0, α = b + a·I exactly: the colour model that the guided upsampling reuses.
        """
        t = self._window_fits(p)
        out = np.empty((4,) + p.shape, np.float32)
        scale = 1.0 / np.maximum(self.count, np.float32(1e-12))
        out[0] = (t[0] - t[4]) * scale  # b_k = p̄_k − a_k·μ_k
        for ch in range(3):
            out[ch + 1] = t[ch + 1] * scale
        return out


class _Tiles:
    """Gather tiles with a halo from a padded full-size array, and scatter tile cores back into one.

    Stacks are (S, n, S): the n tiles side by side (see ``_box_sum``); ``grid`` and ``scatter`` take (n, T, T).
    Padded arrays have `margin` (at least `halo`) zeros on every side, so that tilings with different
    halos can share them.
    """

    def __init__(self, shape: tuple[int, int], origins: np.ndarray, tile: int, halo: int, margin: int | None = None) -> None:
        self.shape, self.tile, self.halo = shape, tile, halo
        self.margin = m = halo if margin is None else margin
        h, w = shape
        self.ny, self.nx = -(-h // tile), -(-w // tile)
        self.rows, self.cols = origins[:, 0], origins[:, 1]
        self.padded_shape = (self.ny * tile + 2 * m, self.nx * tile + 2 * m)

    def pad(self, x: np.ndarray) -> np.ndarray:
        """HxW array → float32 copy with `margin` zeros on every side and the grid rounded up."""
        out = np.zeros(self.padded_shape, np.float32)
        h, w = self.shape
        out[self.margin:self.margin + h, self.margin:self.margin + w] = x
        return out

    def gather(self, padded: np.ndarray) -> np.ndarray:
        """Padded array → (S, n, S) float32 stack of the tiles with their halos, S = tile + 2·halo."""
        size, skip = self.tile + 2 * self.halo, self.margin - self.halo
        inner = padded[skip:padded.shape[0] - skip, skip:padded.shape[1] - skip]  # `halo` zeros on every side
        windows = np.lib.stride_tricks.sliding_window_view(inner, (size, size))
        return np.ascontiguousarray(windows[self.rows * self.tile, self.cols * self.tile].swapaxes(0, 1))

    def cores(self, stack: np.ndarray) -> np.ndarray:
        """(..., S, n, S) stack → (..., T, n, T) view of the tiles' cores."""
        core = slice(self.halo, self.halo + self.tile)
        return stack[..., core, :, core]

    def grid(self, padded: np.ndarray) -> np.ndarray:
        """Padded array → (ny, nx, T, T) view of its grid cells (writes go through)."""
        t, hl = self.tile, self.margin
        return padded[hl:hl + self.ny * t, hl:hl + self.nx * t].reshape(self.ny, t, self.nx, t).swapaxes(1, 2)

    def cells(self, padded: np.ndarray) -> np.ndarray:
        """Padded array → (T, n, T) copy of the tiles' grid cells (the cores' layout)."""
        return self.grid(padded)[self.rows, self.cols].swapaxes(0, 1)

    def scatter(self, padded: np.ndarray, cores: np.ndarray) -> None:
        """Write (T, n, T) cores into the padded array's grid cells."""
        self.grid(padded)[self.rows, self.cols] = cores.swapaxes(0, 1)


class _Solver:
    """Closed-form matting on the unknown pixels of a trimap, by preconditioned conjugate gradient on tiles."""

    def __init__(self, image: np.ndarray, alpha: np.ndarray, unknown: np.ndarray, tile: int, radius: int, eps: float) -> None:
        # image float32 HxWx3 in [0, 1], alpha float32 HxW, unknown bool HxW
        self.origins = band_tiles(np.where(unknown, np.uint8(UNKNOWN), np.uint8(0)), tile)
        # products need 2r around a core; the coefficients on a one-pixel ring around it, 2r + 1
        self.tiles = tiles = _Tiles(alpha.shape, self.origins, tile, 2 * radius, 2 * radius + 1)
        self.radius, self.eps = radius, eps
        if len(self.origins) == 0:
            return
        guide = np.stack([tiles.gather(tiles.pad(image[..., c])) for c in range(3)])
        valid = tiles.gather(tiles.pad(np.ones(alpha.shape, np.float32)))
        self.lap = _Laplacian(guide, valid, radius, eps)
        self.u = np.ascontiguousarray(tiles.cores(tiles.gather(tiles.pad(unknown))))
        self.alpha = tiles.pad(alpha)
        self.prior = np.ascontiguousarray(tiles.cores(tiles.gather(self.alpha)))
        self.known = tiles.pad(np.where(unknown, np.float32(0), alpha))
        self._padded = np.zeros(tiles.padded_shape, np.float32)

    def _lap_cores(self, padded: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(self.tiles.cores(self.lap.apply(self.tiles.gather(padded))))

    def solve(self, prior: float, iterations: int, tolerance: float) -> tuple[np.ndarray, int, float]:
        """→ (x (T, n, T) float32: alpha on the tiles' cores, CG iterations, relative residual)."""
        u, g = self.u, np.float32(prior)

        def operator(x: np.ndarray) -> np.ndarray:  # x is zero off the unknown pixels
            self.tiles.scatter(self._padded, x)
            y = self._lap_cores(self._padded)
            y += g * x
            y *= u
            return y

        inv_diag = u / np.maximum(np.ascontiguousarray(self.tiles.cores(self.lap.diag)) + g, np.float32(1e-6))
        rhs = (g * self.prior - self._lap_cores(self.known)) * u
        x = self.prior * u  # start from the refined mask
        res = rhs - operator(x)
        z = res * inv_diag
        d = z.copy()
        rz = float(np.vdot(res, z))
        rhs_norm = max(float(np.vdot(rhs, rhs)), 1e-20)
        done, rel = 0, math.sqrt(float(np.vdot(res, res)) / rhs_norm)
        while done < iterations and rel > tolerance:
            q = operator(d)
            step = rz / max(float(np.vdot(d, q)), 1e-30)
            x += step * d
            res -= step * q
            z = res * inv_diag
            rz_new = float(np.vdot(res, z))
            d *= rz_new / max(rz, 1e-30)
            d += z
            rz = rz_new
            done += 1
            rel = math.sqrt(float(np.vdot(res, res)) / rhs_norm)
        return x, done, rel

    def coefficients(self, x: np.ndarray, image: np.ndarray) -> np.ndarray:
        """Solved cores, image float32 HxWx3 as solved → (4, T + 2, n, T + 2): (b, a_R, a_G, a_B) on the cores
        and a one-pixel ring (exact: from tiles with a halo one pixel wider than the solve's)."""
        padded = self.alpha.copy()
        self.tiles.scatter(padded, np.where(self.u > 0, x, self.tiles.cells(padded)))
        t = self.tiles
        wide = _Tiles(t.shape, self.origins, t.tile, t.margin)
        guide = np.stack([wide.gather(wide.pad(image[..., c])) for c in range(3)])
        lap = _Laplacian(guide, wide.gather(wide.pad(np.ones(t.shape, np.float32))), self.radius, self.eps, diagonal=False)
        coef = lap.coefficients(wide.gather(padded))
        ring = slice(wide.halo - 1, wide.halo + wide.tile + 1)
        return coef[:, ring, :, ring]


def matting_laplacian(image: np.ndarray, p: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """image uint8 HxWx3, p float32 HxW → L p / (2r+1)², float32 HxW: the matting Laplacian applied to p.

    The whole photo as one tile, through the solver's own code (for tests and inspection).
    """
    h, w = p.shape
    tiles = _Tiles((h, w), np.zeros((1, 2), np.int64), max(h, w), 2 * radius)
    guide = np.stack([tiles.gather(tiles.pad(image[..., c].astype(np.float32) / 255.0)) for c in range(3)])
    lap = _Laplacian(guide, tiles.gather(tiles.pad(np.ones((h, w), np.float32))), radius, eps)
    out = tiles.cores(lap.apply(tiles.gather(tiles.pad(p.astype(np.float32)))))
    return np.ascontiguousarray(out[:h, 0, :w])


def _block_mean(x: np.ndarray, k: int) -> np.ndarray:
    """HxW[xC] → ceil(H/k) x ceil(W/k)[xC] float32 means of k×k blocks (the border replicated to fill the last).

    uint8 input gives means rounded to whole levels (converting the full-size photo to float first
    would cost more than the whole solve)."""
    h, w = x.shape[:2]
    hp, wp = -(-h // k) * k, -(-w // k) * k
    padded = cv2.copyMakeBorder(x, 0, hp - h, 0, wp - w, cv2.BORDER_REPLICATE) if (hp, wp) != (h, w) else x
    return cv2.resize(padded, (wp // k, hp // k), interpolation=cv2.INTER_AREA).astype(np.float32)


def _block_any(x: np.ndarray, k: int) -> np.ndarray:
    """bool HxW → bool ceil(H/k) x ceil(W/k): True where any pixel of the k×k block is."""
    h, w = x.shape
    hp, wp = -(-h // k) * k, -(-w // k) * k
    padded = np.zeros((hp, wp), bool)
    padded[:h, :w] = x
    return padded.reshape(hp // k, k, wp // k, k).any(axis=(1, 3))


def matte_band(
    image: np.ndarray,
    alpha: np.ndarray,
    band_px: float,
    *,
    smoothness: float = DEFAULT_SMOOTHNESS,
    prior: float = DEFAULT_PRIOR,
    solve_scale: int | None = None,
    radius: int = 1,
    tile_px: int | None = None,
    iterations: int = 300,
    tolerance: float = 1e-3,
    trimap: np.ndarray | None = None,
    info: dict[str, Any] | None = None,
) -> np.ndarray:
    """image uint8 HxWx3, alpha float32 HxW in [0, 1] → float32 HxW in [0, 1], re-solved in the unknown band.

    Minimises αᵀLα/(2r+1)² + prior·|α − alpha|² over the trimap's unknown pixels (default: the
    `band_px` band of `trimap_from_alpha`), the known ones fixed to `alpha` (they keep it exactly),
    by Jacobi-preconditioned conjugate gradient started from `alpha`, on the grid tiles that hold
    unknown pixels only. The solve runs at 1/k size, k = `solve_scale` (default: band_px / 3,
    rounded, at least 1), and comes back to full size through the solution's own colour model
    α = b + a·I applied to the full-size colours (guided upsampling). `smoothness` is the colour
    model's regularisation (squared [0, 1] colour units), `radius` its window radius at the solve's
    scale; `info`, if given, receives the tile count, solve scale, iterations and final residual.
    A trimap without known foreground or without known background (a band as wide as the subject)
    leaves `alpha` unchanged: there is nothing to solve from.
    """
    a = as_alpha(alpha)
    img = _check_image(image, a.shape)
    band = check_number(band_px, "band_px", 0.0)
    eps = check_number(smoothness, "smoothness", 0.0, lo_open=True)
    gamma = check_number(prior, "prior", 0.0, lo_open=True)
    for name, value in (("solve_scale", solve_scale), ("radius", radius), ("tile_px", tile_px), ("iterations", iterations)):
        if value is not None and (isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1):
            raise SettingsError(f"{name} must be a whole number >= 1, got {value!r}.")
    tol = check_number(tolerance, "tolerance", 0.0, lo_open=True)
    if trimap is None:
        trimap = trimap_from_alpha(a, band)
    elif not isinstance(trimap, np.ndarray) or trimap.shape != a.shape or trimap.dtype != np.uint8:
        raise SettingsError(f"trimap must be uint8 HxW at the mask's size {a.shape}.")
    h, w = a.shape
    k = max(1, round(band / SOLVE_BAND_PX)) if solve_scale is None else int(solve_scale)
    k = min(k, max(1, min(h, w) // 8))  # keep at least 8 pixels across the solve
    band_small = band / k
    tile = int(tile_px) if tile_px else max(8, 4 * math.ceil(band_small / 2))
    unknown = trimap == UNKNOWN
    stats: dict[str, Any] = dict(solve_scale=k, radius=radius, tile_px=tile * k, unknown_px=int(unknown.sum()),
                                 tiles=0, iterations=0, residual=0.0)
    if info is not None:
        info.clear()
        info.update(stats)
    if not unknown.any() or not (trimap == 255).any() or not (trimap == 0).any():
        return a  # nothing to solve, or nothing known on one side to solve from
    if k == 1:
        solver = _Solver(img.astype(np.float32) * np.float32(1 / 255), a, unknown, tile, radius, eps)
        x, done, rel = solver.solve(gamma, iterations, tol)
        out = solver.tiles.pad(a)
        solver.tiles.scatter(out, np.where(solver.u > 0, np.clip(x, 0.0, 1.0), solver.tiles.cells(out)))
        m = solver.tiles.margin
        out = out[m:m + h, m:m + w]
    else:
        small_img = _block_mean(img, k) * np.float32(1 / 255)
        solver = _Solver(small_img, _block_mean(a, k), _block_any(unknown, k), tile, radius, eps)
        x, done, rel = solver.solve(gamma, iterations, tol)
        out = _upsample_solution(solver, x, small_img, img, a, unknown, k)
    if info is not None:
        info.update(tiles=len(solver.origins), iterations=done, residual=rel)
    return np.ascontiguousarray(out)


def _upsample_solution(solver: _Solver, x: np.ndarray, small_image: np.ndarray, image: np.ndarray, alpha: np.ndarray,
                       unknown: np.ndarray, k: int) -> np.ndarray:
    """Low-resolution solution → full-size alpha, float32 HxW: α = b + a·I at the unknown pixels, `alpha` elsewhere.

    The coefficients of the solved matte's colour model are upsampled bilinearly, tile by tile
    (tiles side by side as one wide image, each with a one-pixel ring so that no tile reads another's
    values), and applied to the full-size colours (all whole tiles at once), so detail finer than the
    solve's pixels comes back.
    """
    tiles = solver.tiles
    t_small = tiles.tile
    coef = solver.coefficients(x, small_image)  # (4, t+2, n, t+2)
    n, size = coef.shape[2], t_small + 2
    # ring pixels outside the photo take their inner neighbour's coefficients (replicated border)
    h_small, w_small = tiles.shape
    ring = np.arange(size) - 1
    rows = np.clip(tiles.rows[:, None] * t_small + ring, 0, h_small - 1) - tiles.rows[:, None] * t_small + 1
    cols = np.clip(tiles.cols[:, None] * t_small + ring, 0, w_small - 1) - tiles.cols[:, None] * t_small + 1
    coef = coef[:, rows.T[:, :, None], np.arange(n)[None, :, None], cols[None, :, :]]  # (4, t+2, n, t+2)
    t_full = t_small * k
    core = slice(k, k + t_full)
    big = np.empty((4, n, t_full, t_full), np.float32)
    for c in range(4):
        up = cv2.resize(coef[c].reshape(size, n * size), (n * size * k, size * k), interpolation=cv2.INTER_LINEAR)
        big[c] = up.reshape(size * k, n, size * k)[core, :, core].swapaxes(0, 1)
    out = alpha.copy()
    h, w = alpha.shape
    ny, nx = h // t_full, w // t_full  # the grid cells that lie wholly inside the photo

    def cells(plane: np.ndarray) -> np.ndarray:  # HxW[x3] → (ny, T, nx, T[, 3]) view of the whole cells
        return plane[:ny * t_full, :nx * t_full].reshape(ny, t_full, nx, t_full, *plane.shape[2:])

    grid, colours, inside = cells(out), cells(image), cells(unknown)
    whole = np.flatnonzero((tiles.rows < ny) & (tiles.cols < nx))
    step = max(1, UPSAMPLE_CHUNK_PX // t_full**2)  # bounded temporaries on big photos
    for chunk in (whole[i:i + step] for i in range(0, len(whole), step)):
        rows, cols = tiles.rows[chunk], tiles.cols[chunk]
        solved = _colour_model(big[:, chunk], colours[rows, :, cols])
        grid[rows, :, cols] = np.where(inside[rows, :, cols], solved, grid[rows, :, cols])
    for i in np.flatnonzero((tiles.rows >= ny) | (tiles.cols >= nx)):  # the last row and column, cut by the edge
        rows_in = slice(tiles.rows[i] * t_full, min((tiles.rows[i] + 1) * t_full, h))
        cols_in = slice(tiles.cols[i] * t_full, min((tiles.cols[i] + 1) * t_full, w))
        solved = _colour_model(big[:, i, :rows_in.stop - rows_in.start, :cols_in.stop - cols_in.start], image[rows_in, cols_in])
        inside = unknown[rows_in, cols_in]
        out[rows_in, cols_in][inside] = solved[inside]
    return out


def _colour_model(coef: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """coef float32 (4, ...) = (b, a_R, a_G, a_B), colours uint8 (..., 3) → α = b + a·I, float32 (...) in [0, 1]."""
    rgb = colours.astype(np.float32) * np.float32(1 / 255)
    return np.clip(coef[0] + np.einsum("c...,...c->...", coef[1:], rgb), 0.0, 1.0)
