"""Edge-aware upsampling of the network's mask with a colour guided filter (He, Sun and Tang, 2013).

The 320×320 prediction is bilinearly upsampled, then filtered with the photo as the guide: within
each window the output is a linear function of the photo's colour, so the mask's edge snaps to the
photo's edges. Only box filters are used, so the cost is linear in the pixel count; the coefficients
are computed on a guide of at most `guide_pixels` pixels and upsampled ("fast guided filter"), and
only the final `q = a·I + b` runs at full resolution.
"""

from __future__ import annotations

import cv2
import numpy as np

from core.arrays import sym3_inverse
from core.errors import SettingsError

#: Coefficients are computed at about this many pixels (fast guided filter): beyond it the result does not
#: measurably change, only the time (bench/results/design-measurements.md); photos under it are unaffected.
GUIDE_PIXELS = 500_000


def box_mean(x: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a (2r+1)² window, float32, same shape as x (HxW or HxWxC), replicated borders."""
    size = 2 * int(radius) + 1
    return cv2.boxFilter(x, -1, (size, size), normalize=True, borderType=cv2.BORDER_REPLICATE)


def _check(guide: np.ndarray, source: np.ndarray) -> None:
    if guide.ndim != 3 or guide.shape[2] != 3 or guide.dtype != np.float32:
        raise SettingsError(f"guide must be float32 HxWx3 in [0, 1], got {guide.dtype} {guide.shape}")
    if source.shape != guide.shape[:2] or source.dtype != np.float32:
        raise SettingsError(f"source must be float32 HxW matching the guide {guide.shape[:2]}, got {source.dtype} {source.shape}")


def guided_coefficients(guide: np.ndarray, source: np.ndarray, radius: int, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """guide float32 HxWx3 in [0,1], source float32 HxW → window-averaged (a float32 HxWx3, b float32 HxW)."""
    _check(guide, source)
    if radius < 1 or eps <= 0:
        raise SettingsError(f"radius must be >= 1 and eps > 0, got radius={radius}, eps={eps}")
    mean_i = box_mean(guide, radius)
    mean_p = box_mean(source, radius)
    cov_ip = box_mean(guide * source[..., None], radius) - mean_i * mean_p[..., None]
    # 3×3 covariance of the guide per pixel (symmetric: six entries), regularised by eps.
    var = {}
    for i, j in ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)):
        var[i, j] = box_mean(guide[..., i] * guide[..., j], radius) - mean_i[..., i] * mean_i[..., j]
    rr, rg, rb, gg, gb, bb = var[0, 0] + eps, var[0, 1], var[0, 2], var[1, 1] + eps, var[1, 2], var[2, 2] + eps
    # Inverse of the symmetric 3×3 matrix by cofactors, applied to cov_ip.
    (inv_rr, inv_rg, inv_rb, inv_gg, inv_gb, inv_bb), det = sym3_inverse(rr, rg, rb, gg, gb, bb)
    cr, cg, cb = cov_ip[..., 0], cov_ip[..., 1], cov_ip[..., 2]
    a = np.stack(
        [
            inv_rr * cr + inv_rg * cg + inv_rb * cb,
            inv_rg * cr + inv_gg * cg + inv_gb * cb,
            inv_rb * cr + inv_gb * cg + inv_bb * cb,
        ],
        axis=-1,
    ) / det[..., None]
    b = mean_p - np.einsum("hwc,hwc->hw", a, mean_i)
    return box_mean(a.astype(np.float32), radius), box_mean(b.astype(np.float32), radius)


def guided_filter(guide: np.ndarray, source: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """guide float32 HxWx3 in [0,1], source float32 HxW → filtered float32 HxW (not clipped)."""
    a, b = guided_coefficients(guide, source, radius, eps)
    return np.einsum("hwc,hwc->hw", a, guide) + b


def guided_upsample(
    alpha: np.ndarray,
    image: np.ndarray,
    radius_pct: float = 1.0,
    eps: float = 1e-3,
    guide_pixels: int = GUIDE_PIXELS,
) -> np.ndarray:
    """alpha float32 hxw in [0,1] (any size, e.g. 320×320), image uint8 HxWx3 → alpha float32 HxW in [0, 1].

    radius_pct: window radius in % of the image's long side; eps: regularisation (larger → smoother,
    closer to plain interpolation; in squared [0,1] colour units).
    """
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise SettingsError(f"image must be uint8 HxWx3, got {image.dtype} {image.shape}")
    height, width = image.shape[:2]
    scale = min(1.0, (guide_pixels / (height * width)) ** 0.5)
    small = (max(1, round(width * scale)), max(1, round(height * scale)))
    guide_small = cv2.resize(image, small, interpolation=cv2.INTER_AREA) if scale < 1 else image
    guide_small = guide_small.astype(np.float32) / 255.0
    source = cv2.resize(alpha.astype(np.float32), small, interpolation=cv2.INTER_LINEAR)
    radius = max(1, round(radius_pct / 100.0 * max(small)))
    a, b = guided_coefficients(guide_small, source, radius, eps)
    if scale < 1:
        a = cv2.resize(a, (width, height), interpolation=cv2.INTER_LINEAR)
        b = cv2.resize(b, (width, height), interpolation=cv2.INTER_LINEAR)
    out = b
    for channel in range(3):  # q = a·I + b at full resolution, one channel at a time to bound memory
        out += a[..., channel] * (image[..., channel].astype(np.float32) / 255.0)
    return np.clip(out, 0.0, 1.0, out=out)
