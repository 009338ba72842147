"""U²-Net inference: the reference preprocessing, the forward pass, and the alpha at image size.

Preprocessing reproduces rembg's (and the official `u2net_test.py`'s): resize the RGB image to the
network input size with Lanczos, divide by the resized image's maximum, subtract the ImageNet mean
and divide by its std. The fused output d0 is min–max normalised and resized back to the photo.

One `Segmenter` per (model, device, weights file) is kept and reused (`get_segmenter`). Its forward
pass runs under a lock: PyTorch already spreads one pass over every core, so concurrent callers
(several dashboard sessions) queue instead of thrashing the CPU and multiplying peak memory.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from core.errors import SettingsError
from core.model import parameter_count
from core.weights import DEFAULT_MODEL, LoadedWeights, ModelSpec, ProgressCallback, load_weights

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
_threads_configured = False


def configure_cpu_threads() -> int:
    """Set PyTorch's intra-op threads to the CPUs this process may use (unless OMP_NUM_THREADS is set)."""
    global _threads_configured
    if not _threads_configured and "OMP_NUM_THREADS" not in os.environ:
        available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        torch.set_num_threads(max(1, available))
    _threads_configured = True
    return torch.get_num_threads()


def select_device(name: str = "auto") -> torch.device:
    """'auto' → CUDA, then Apple MPS, then CPU; or the named device, with a clear error if absent."""
    name = (name or "auto").lower()
    if name not in DEVICE_CHOICES and not name.startswith("cuda:"):
        raise SettingsError(f"Unknown device {name!r}; choose one of {', '.join(DEVICE_CHOICES)}.")
    mps_available = hasattr(torch.backends, "mps") and torch.backends.mps.is_available()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if mps_available else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SettingsError("CUDA was asked for, but PyTorch sees no CUDA GPU here. Use --device cpu or auto.")
    if name == "mps" and not mps_available:
        raise SettingsError("Apple MPS was asked for, but it is not available here. Use --device cpu or auto.")
    return torch.device(name)


def _check_rgb(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise SettingsError(f"Expected an RGB image as uint8 HxWx3, got {got}. Decode it with core.imageio first.")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise SettingsError("The image is empty (zero width or height).")


def preprocess(image: np.ndarray, spec: ModelSpec) -> np.ndarray:
    """image: uint8 HxWx3 RGB → float32 1×3×S×S network input (S = spec.input_size)."""
    _check_rgb(image)
    size = spec.input_size
    resized = np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.LANCZOS), dtype=np.float32)
    resized /= max(float(resized.max()), 1e-6)
    resized -= np.asarray(spec.mean, dtype=np.float32)
    resized /= np.asarray(spec.std, dtype=np.float32)
    return np.ascontiguousarray(resized.transpose(2, 0, 1)[None])


def normalize_prediction(d0: np.ndarray) -> np.ndarray:
    """d0: float32 S×S network output → min–max normalised float32 S×S in [0, 1] (all 0 if constant)."""
    low, high = float(d0.min()), float(d0.max())
    if high - low <= 1e-12:
        return np.zeros_like(d0, dtype=np.float32)
    return ((d0 - low) / (high - low)).astype(np.float32)


def resize_prediction(prediction: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """prediction: float32 S×S in [0,1] → float32 HxW in [0,1] for shape (H, W), bilinear (area when shrinking)."""
    height, width = shape
    shrinking = height < prediction.shape[0] and width < prediction.shape[1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    alpha = cv2.resize(prediction, (width, height), interpolation=interpolation)
    return np.clip(alpha, 0.0, 1.0, out=alpha).reshape(height, width)


@dataclass
class Segmenter:
    """A loaded model on a device; `predict` gives the network-resolution mask, `segment` the full one."""

    weights: LoadedWeights
    device: torch.device

    def __post_init__(self) -> None:
        self.model = self.weights.model.to(self.device).eval()
        self._lock = threading.Lock()

    @property
    def spec(self) -> ModelSpec:
        return self.weights.spec

    @property
    def parameters(self) -> int:
        return parameter_count(self.model)

    def forward(self, batch: np.ndarray) -> np.ndarray:
        """batch: float32 1×3×S×S preprocessed input → float32 S×S raw d0 (sigmoid probabilities)."""
        with self._lock, torch.inference_mode():
            d0 = self.model(torch.from_numpy(batch).to(self.device))[0]
            return d0[0, 0].float().cpu().numpy()

    def predict(self, image: np.ndarray) -> np.ndarray:
        """image: uint8 HxWx3 RGB → float32 S×S in [0, 1], the normalised d0 at network resolution."""
        return normalize_prediction(self.forward(preprocess(image, self.spec)))

    def segment(self, image: np.ndarray) -> np.ndarray:
        """image: uint8 HxWx3 RGB → alpha float32 HxW in [0, 1] (raw network mask, no refinement)."""
        return resize_prediction(self.predict(image), image.shape[:2])


_segmenters: dict[tuple[str, str, str | None], Segmenter] = {}
_segmenters_lock = threading.Lock()


def get_segmenter(
    model: str = DEFAULT_MODEL,
    device: str = "auto",
    *,
    weights_path: str | os.PathLike | None = None,
    progress: ProgressCallback | None = None,
    allow_download: bool = True,
) -> Segmenter:
    """The shared Segmenter for (model, device, weights file), loading it on first use."""
    resolved = select_device(device)
    key = (model, str(resolved), str(Path(weights_path).resolve()) if weights_path else None)
    with _segmenters_lock:
        if key not in _segmenters:
            if resolved.type == "cpu":
                configure_cpu_threads()
            weights = load_weights(model, path=weights_path, progress=progress, allow_download=allow_download)
            _segmenters[key] = Segmenter(weights, resolved)
        return _segmenters[key]


def segment(image: np.ndarray, model: str = DEFAULT_MODEL, device: str = "auto") -> np.ndarray:
    """image: uint8 HxWx3 RGB → alpha float32 HxW in [0, 1], with the shared model of that name."""
    return get_segmenter(model, device).segment(image)
