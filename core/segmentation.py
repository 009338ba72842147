"""U²-Net inference: the reference preprocessing, the forward pass, and the alpha at image size.

Preprocessing reproduces rembg's (and the official `u2net_test.py`'s): resize the RGB image to the
network input size with Lanczos, divide by the resized image's maximum, subtract the ImageNet mean
and divide by its std. The fused output d0 is min–max normalised and resized back to the photo.

One `Segmenter` per (model, device, weights file) is kept and reused (`get_segmenter`). Its forward
pass runs under a lock: PyTorch already spreads one pass over every core, so concurrent callers
(several dashboard sessions) queue instead of thrashing the CPU and multiplying peak memory.

Speed: on the CPU the bundled `.onnx` files run in onnxruntime (about twice TorchScript's speed for U²-Net†,
bench/results/whole-process.md), and such a process never imports PyTorch. Elsewhere (CUDA, MPS, `.pth`
files, input sizes a fixed-size export does not take) the forward pass runs an inference copy of the PyTorch
model with every BatchNorm folded into its convolution (the loaded model keeps the official layout and state
dict), on the CPU traced and frozen with TorchScript; both stay within 1e-4 of each other and of the file. The
Lanczos resize of a large photo runs its first pass on strips in parallel (Pillow releases the GIL),
bit-identical to one `Image.resize` call. Timings: bench/results/speed.md (`python -m bench.speed`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
import os
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sys
from typing import TYPE_CHECKING

import cv2
import numpy as np
from PIL import Image

from core.errors import SettingsError
from core.network_input import DEVICE_CHOICES, InferenceSettings  # noqa: F401 - defined there, used from here too

if TYPE_CHECKING:  # PyTorch is imported when a network runs in it (CUDA, MPS, .pth files, other input sizes)
    import torch
    from torch import nn
from core.weights import DEFAULT_MODEL, InputFacts, LoadedWeights, ModelSpec, ProgressCallback, get_spec, load_weights

#: Trace and freeze the CPU inference model with TorchScript: exact (d0 bit-identical) and faster per pass,
#: but slower to create a Segmenter and heavier in resident memory (bench/results/speed.md). Read when a
#: Segmenter is created; False gives the eager folded model.
CPU_JIT_FREEZE = True
#: Run `.onnx` weights with onnxruntime on the CPU where it is installed and takes the input's shape (PyTorch
#: serves the rest: CUDA, MPS, `.pth` files, input sizes a fixed-size export does not take). Read when a
#: Segmenter is created; the two agree within 1e-4 (tests/test_segmentation.py), speed: bench/results/speed.md.
CPU_ONNXRUNTIME = True
_threads_configured = False


def available_cpus() -> int:
    """The CPUs this process may use."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def configure_cpu_threads() -> int:
    """The threads a network pass may use: the CPUs this process may use (or OMP_NUM_THREADS); PyTorch's intra-op
    threads are set to it once PyTorch is imported."""
    global _threads_configured
    threads = int(os.environ["OMP_NUM_THREADS"]) if os.environ.get("OMP_NUM_THREADS", "").isdigit() else available_cpus()
    if "torch" in sys.modules and not _threads_configured:
        if "OMP_NUM_THREADS" not in os.environ:
            sys.modules["torch"].set_num_threads(threads)
        _threads_configured = True
    return max(1, threads)


@dataclass(frozen=True)
class Device:
    """Where a network runs: 'cpu', 'cuda', 'cuda:N' or 'mps' (`torch()` gives PyTorch's device)."""

    type: str

    def __str__(self) -> str:
        return self.type

    def torch(self) -> torch.device:
        import torch

        return torch.device(self.type)


def _may_have_accelerator() -> bool:
    """False when this machine cannot have a CUDA or Apple GPU (no NVIDIA driver, not macOS), so that 'auto' can
    choose the CPU without importing PyTorch; True when PyTorch must be asked."""
    return sys.platform == "darwin" or os.path.exists("/proc/driver/nvidia/version") or os.path.exists("/dev/nvidiactl")


def select_device(name: str = "auto") -> Device:
    """'auto' → CUDA, then Apple MPS, then CPU; or the named device, with a clear error if absent."""
    name = (name or "auto").lower()
    if name not in DEVICE_CHOICES and not name.startswith("cuda:"):
        raise SettingsError(f"Unknown device {name!r}; choose one of {', '.join(DEVICE_CHOICES)}.")
    if name == "cpu" or (name == "auto" and not _may_have_accelerator()):
        return Device("cpu")
    import torch

    mps_available = hasattr(torch.backends, "mps") and torch.backends.mps.is_available()
    if name == "auto":
        if torch.cuda.is_available():
            return Device("cuda")
        return Device("mps" if mps_available else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SettingsError("CUDA was asked for, but PyTorch sees no CUDA GPU here. Use --device cpu or auto.")
    if name == "mps" and not mps_available:
        raise SettingsError("Apple MPS was asked for, but it is not available here. Use --device cpu or auto.")
    return Device(name)


def _check_rgb(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise SettingsError(f"Expected an RGB image as uint8 HxWx3, got {got}. Decode it with core.imageio first.")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise SettingsError("The image is empty (zero width or height).")


#: Photos with at least this many pixels get the first pass of their Lanczos resize split over threads.
PARALLEL_RESIZE_MIN_PIXELS = 1_500_000
_resize_pool: tuple[int, ThreadPoolExecutor] | None = None  # (workers, pool)
_resize_pool_lock = threading.Lock()
_pass_order_rule: str | None = None  # "area" / "horizontal" / "unknown", see _pillow_pass_order()


def _resize_workers() -> int:
    return max(1, min(available_cpus(), configure_cpu_threads(), 8))


def _pillow_pass_order(height: int, width: int, size: int) -> str | None:
    """'horizontal' or 'vertical': the pass Pillow runs first resizing height×width to size×size; None: unknown.

    Pillow resamples separably, rounding the intermediate to 8 bits, so the order matters for a
    bit-exact copy of its result. Older Pillow always goes horizontal first; Pillow 13 goes horizontal
    first iff 2·width ≥ height + size (found by bisection, for 320×320 and other square outputs). Which
    rule the installed Pillow follows is checked once, on small images either side of the boundary;
    if neither fits, the caller falls back to one plain `Image.resize` call.
    """
    global _pass_order_rule
    if _pass_order_rule is None:
        rng = np.random.default_rng(0)
        fits = {"area": True, "horizontal": True}
        for h, w in ((700, 509), (700, 511), (1000, 659), (1000, 661), (480, 1500), (1500, 480)):
            image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            reference = np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.LANCZOS))
            by_rows = Image.fromarray(image).resize((size, h), Image.Resampling.LANCZOS)
            horizontal_first = np.array_equal(
                reference, np.asarray(by_rows.resize((size, size), Image.Resampling.LANCZOS))
            )
            fits["area"] &= horizontal_first == (2 * w >= h + size)
            fits["horizontal"] &= horizontal_first
        _pass_order_rule = "area" if fits["area"] else "horizontal" if fits["horizontal"] else "unknown"
    if _pass_order_rule == "unknown" or width <= size or height <= size:
        return None
    if _pass_order_rule == "horizontal" or 2 * width >= height + size:
        return "horizontal"
    return "vertical"


def lanczos_resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """uint8 HxWx3 → uint8 height×width×3, exactly `Image.fromarray(image).resize((width, height), LANCZOS)`.

    Pillow resamples separably: a first pass along one axis into an 8-bit image, then the other. Each
    row of a horizontal pass (column of a vertical one) depends on that row (column) of the input only,
    so for a large photo the first pass runs on strips in parallel (Pillow releases the GIL while
    resampling) and the second on the joined result, in the order Pillow itself would use: bit-identical
    to the single call, and the first pass (nearly all the work when shrinking) is n_threads times faster.
    A non-square output (a padded input, see `photo_box`) runs the horizontal pass first: a Lanczos
    resize all the same, not necessarily bit-identical to Pillow's own choice of order.
    """
    in_height, in_width = image.shape[:2]
    workers = _resize_workers()
    order = None
    if in_height * in_width >= PARALLEL_RESIZE_MIN_PIXELS and workers > 1 and min(in_height, in_width) >= 2 * workers:
        if width == height:
            order = _pillow_pass_order(in_height, in_width, width)
        elif in_width > width and in_height > height:
            order = "horizontal"
    if order is None:
        return np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.LANCZOS))
    global _resize_pool
    with _resize_pool_lock:
        if _resize_pool is None or _resize_pool[0] != workers:
            _resize_pool = (workers, ThreadPoolExecutor(workers, thread_name_prefix="lanczos"))
        pool = _resize_pool[1]
    axis = 0 if order == "horizontal" else 1
    cuts = [image.shape[axis] * index // workers for index in range(workers + 1)]

    def first_pass(index: int) -> np.ndarray:
        start, stop = cuts[index], cuts[index + 1]
        if axis == 0:
            return np.asarray(Image.fromarray(image[start:stop]).resize((width, stop - start), Image.Resampling.LANCZOS))
        return np.asarray(Image.fromarray(image[:, start:stop]).resize((stop - start, height), Image.Resampling.LANCZOS))

    halfway = np.concatenate(list(pool.map(first_pass, range(workers))), axis=axis)
    return np.asarray(Image.fromarray(halfway).resize((width, height), Image.Resampling.LANCZOS))


def network_frame(shape: tuple[int, int], facts: InputFacts, size: int | None = None, pad_pct: float = 0.0) -> tuple[int, int]:
    """(height, width) of the network input for an HxW photo padded by pad_pct % of its long side.

    Square models get size×size (size defaults to facts.size). Aspect-keeping models get the padded photo's
    shape with its short side scaled to `size`, unless that short side is at most `size` and the long side at
    least `size` (then the photo keeps its own scale: MODNet's reference rule); both sides are rounded down to
    a multiple of facts.multiple (at least one multiple).
    """
    size = int(size or facts.size)
    if facts.square:
        return size, size
    height, width = shape
    pad = 2 * max(0.0, float(pad_pct)) / 100.0 * max(height, width)
    height, width = height + pad, width + pad
    short, long = min(height, width), max(height, width)
    scale = 1.0 if short <= size <= long else size / short
    step = facts.multiple
    return max(step, int(height * scale) // step * step), max(step, int(width * scale) // step * step)


def photo_box(shape: tuple[int, int], frame: int | tuple[int, int], pad_pct: float = 0.0) -> tuple[int, int, int, int]:
    """(top, left, height, width) of an HxW photo inside the network input `frame` ((H, W), or a square's side),
    after padding every side by pad_pct % of the photo's long side (0: the photo fills the whole frame)."""
    frame_h, frame_w = (frame, frame) if isinstance(frame, int) else frame
    height, width = shape
    pad = max(0.0, float(pad_pct)) / 100.0 * max(height, width)
    top = min(round(frame_h * pad / (height + 2 * pad)), (frame_h - 1) // 2)
    left = min(round(frame_w * pad / (width + 2 * pad)), (frame_w - 1) // 2)
    return top, left, frame_h - 2 * top, frame_w - 2 * left


def preprocess(image: np.ndarray, spec: ModelSpec, pad_pct: float = 0.0, size: int | None = None) -> np.ndarray:
    """image: uint8 HxWx3 RGB → float32 1×3×H'×W' network input, by the facts of `spec.input` (see InputFacts).

    With pad_pct = 0 (the reference) the photo is resized to the whole frame (`network_frame`). With padding
    the photo is resized into `photo_box` and its edge pixels are replicated out to the frame, so a body cut
    by the photo's border continues past it instead of ending at the frame (which U²-Net reads as
    "background").
    """
    _check_rgb(image)
    facts = spec.input
    frame_h, frame_w = network_frame(image.shape[:2], facts, size, pad_pct)
    top, left, height, width = photo_box(image.shape[:2], (frame_h, frame_w), pad_pct)
    if facts.resample == "lanczos":
        resized = lanczos_resize(np.ascontiguousarray(image), width, height)
    else:
        resized = _resize_image(image, (height, width))
    if top or left:
        resized = cv2.copyMakeBorder(
            resized, top, frame_h - top - height, left, frame_w - left - width, cv2.BORDER_REPLICATE
        )
    resized = resized.astype(np.float32)
    resized /= max(float(resized.max()), 1e-6) if facts.scale == "max" else 255.0
    resized -= np.asarray(facts.mean, dtype=np.float32)
    resized /= np.asarray(facts.std, dtype=np.float32)
    return np.ascontiguousarray(resized.transpose(2, 0, 1)[None])


def _resize_image(image: np.ndarray, frame: tuple[int, int]) -> np.ndarray:
    """HxWxC image → frame (h, w): area when shrinking; bilinear when enlarging (an area upscale repeats pixels
    in blocks)."""
    height, width = frame
    shrinking = width * height <= image.shape[0] * image.shape[1]
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def resize_batch(batch: np.ndarray, frame: tuple[int, int]) -> np.ndarray:
    """batch: float32 1×3×H×W network input → the same input at frame (h, w), resized as `preprocess` resizes
    (the normalisation is per channel and affine, so resizing after it equals resizing before it)."""
    return np.ascontiguousarray(_resize_image(batch[0].transpose(1, 2, 0), frame).transpose(2, 0, 1)[None])


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


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """An eval-mode copy of `model` for inference, each REBNCONV's BatchNorm folded into its convolution.

    `model` itself is not changed (its state dict keeps the official layout). Where a BatchNorm is the
    identity (every rembg .onnx import) the copy's convolution shares `model`'s tensors, so the copy
    costs no memory; elsewhere (.pth checkpoints) the folded convolution gets its own weights.
    """
    import torch
    from torch import nn
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    from core.model import REBNCONV

    shared = {id(tensor): tensor for tensor in [*model.parameters(), *model.buffers()]}
    folded = copy.deepcopy(model, memo=shared)  # new modules, same tensors
    with torch.no_grad():
        for module in folded.modules():
            if not isinstance(module, REBNCONV) or not isinstance(module.bn_s1, nn.BatchNorm2d):
                continue
            bn = module.bn_s1
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            shift = bn.bias - bn.running_mean * scale
            if not (bool(torch.all(scale == 1)) and bool(torch.all(shift == 0))):
                module.conv_s1 = fuse_conv_bn_eval(module.conv_s1.eval(), bn.eval())
            module.bn_s1 = nn.Identity()
    return folded.eval()


#: How each architecture's inference copy is made (see `fold_batchnorm`; MODNet: `core.modnet.inference_model`,
#: BatchNorm folded, channels-last, fused operators on the CPU); the loaded model keeps its official layout.
def _modnet_copy(model: nn.Module) -> nn.Module:
    from core.modnet import inference_model

    return inference_model(model)


INFERENCE_COPIES: dict[str, Callable[[nn.Module], nn.Module]] = {"modnet": _modnet_copy}


@dataclass
class Segmenter:
    """A loaded model on a device; `predict` gives the network-resolution mask, `segment` the full one.

    `model` is the loaded model as is. On the CPU the forward pass runs `.onnx` weights in onnxruntime
    (`CPU_ONNXRUNTIME`, at the input sizes the file takes); otherwise `inference_model`, a BatchNorm-folded copy
    (see `fold_batchnorm`), on the CPU frozen with TorchScript (`CPU_JIT_FREEZE`).
    """

    weights: LoadedWeights
    device: Device

    def __post_init__(self) -> None:
        self.device = Device(str(self.device))  # a torch.device is taken too
        self._lock = threading.Lock()  # one forward pass at a time
        self._torch_lock = threading.Lock()  # the PyTorch models are built once
        self._model: nn.Module | None = None
        self._inference_model: nn.Module | None = None
        self._frozen: torch.jit.ScriptModule | None = None
        self._session = self._onnx_session() if CPU_ONNXRUNTIME and self.device.type == "cpu" else None
        if self._session is None:
            self._build_torch()  # now, so that start-up pays for it (and the TorchScript freeze) once

    def _build_torch(self) -> None:
        """The loaded PyTorch model on the device and its inference copy (frozen with TorchScript on the CPU when
        onnxruntime does not serve it), built on first need."""
        with self._torch_lock:
            if self._model is not None:
                return
            model = self.weights.model.to(self.device.torch()).eval()
            configure_cpu_threads()
            inference = INFERENCE_COPIES.get(self.spec.architecture, fold_batchnorm)(model)
            if self._session is None and CPU_JIT_FREEZE and self.device.type == "cpu" and self.spec.input.square:
                self._frozen = self._freeze(inference)  # one input shape to trace
            self._model, self._inference_model = model, inference

    @property
    def model(self) -> nn.Module:
        """The loaded model as is (official layout), in eval mode on the device."""
        self._build_torch()
        return self._model

    @property
    def inference_model(self) -> nn.Module:
        """The BatchNorm-folded copy PyTorch runs (`fold_batchnorm`, or MODNet's `core.modnet.inference_model`)."""
        self._build_torch()
        return self._inference_model

    def _onnx_session(self) -> Any | None:
        """An onnxruntime CPU session on the weights file when it is an .onnx one and onnxruntime is installed."""
        if self.weights.path.suffix.lower() != ".onnx":
            return None
        try:
            import onnxruntime
        except ImportError:
            return None
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = configure_cpu_threads()
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # no warnings about initializers the graph does not use
        try:
            return onnxruntime.InferenceSession(str(self.weights.path), options, providers=["CPUExecutionProvider"])
        except Exception:  # noqa: BLE001 - a file onnxruntime cannot run: PyTorch runs it
            return None

    def _session_takes(self, shape: tuple[int, ...]) -> bool:
        """Whether the onnxruntime session takes an input of `shape` (a fixed-size export takes its size only)."""
        if self._session is None:
            return False
        expected = self._session.get_inputs()[0].shape
        return len(expected) == len(shape) and all(not isinstance(e, int) or e == s for e, s in zip(expected, shape))

    @property
    def runtime(self) -> str:
        """What runs the network at its own input size: 'onnxruntime', 'torchscript' or 'pytorch'."""
        size = self.spec.input_size
        if self._session is not None and (not self.spec.input.square or self._session_takes((1, 3, size, size))):
            return "onnxruntime"
        self._build_torch()
        return "torchscript" if self._frozen is not None else "pytorch"

    def _freeze(self, inference: nn.Module) -> torch.jit.ScriptModule | None:
        """The inference model traced at the network input size and frozen; None if TorchScript fails."""
        import torch

        size = self.spec.input_size
        example = torch.zeros(1, 3, size, size)
        try:
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # TracerWarnings about shapes: the input size is fixed
                frozen = torch.jit.freeze(torch.jit.trace(inference, example, check_trace=False).eval())
                for _ in range(2):  # the profiling executor optimises the graph on the first calls
                    frozen(example)
        except Exception:  # noqa: BLE001 - any TorchScript failure: keep the (exact, slower) eager model
            return None
        return frozen

    @property
    def spec(self) -> ModelSpec:
        return self.weights.spec

    @property
    def parameters(self) -> int:
        """Learnable parameters: the registry's count until the PyTorch model exists (so showing it builds nothing)."""
        if self._model is None and self.spec.parameters:
            return self.spec.parameters
        from core.model import parameter_count

        return parameter_count(self.model)

    def forward(self, batch: np.ndarray) -> np.ndarray:
        """batch: float32 1×3×H×W preprocessed input → float32 H×W: the network's first (for U²-Net the fused
        d0) output, sigmoid probabilities or an alpha matte as `spec.input.output` says."""
        if self._session_takes(batch.shape):
            with self._lock:
                first = self._session.run(
                    [self._session.get_outputs()[0].name], {self._session.get_inputs()[0].name: np.ascontiguousarray(batch)}
                )[0]
            return np.asarray(first[0, 0], dtype=np.float32)
        import torch

        inference = self.inference_model
        x = torch.from_numpy(batch).to(self.device.torch()).contiguous()
        size = self.spec.input_size
        if self._frozen is not None and tuple(x.shape) == (1, 3, size, size):
            with self._lock, torch.no_grad():  # TorchScript runs under no_grad (inference_mode tensors are not needed)
                return self._frozen(x)[0][0, 0].numpy()
        with self._lock, torch.inference_mode():
            out = inference(x)
            first = out[0] if isinstance(out, (tuple, list)) else out
            return first[0, 0].float().cpu().numpy()

    def settings(self, settings: InferenceSettings | None = None) -> InferenceSettings:
        """`settings`, or when None the network input measured best for this model (its registry entry)."""
        return settings if settings is not None else InferenceSettings.for_model(self.spec)

    def prepare(self, image: np.ndarray, settings: InferenceSettings | None = None) -> np.ndarray:
        """image: uint8 HxWx3 RGB → float32 1×3×H'×W' network input under `settings` (default: the model's own)."""
        settings = self.settings(settings)
        return preprocess(image, self.spec, settings.pad_fraction_pct, settings.size)

    def _output(self, batch: np.ndarray) -> np.ndarray:
        """One forward pass → float32 H'×W' in [0, 1]: a saliency map min–max normalised, a matte clipped."""
        out = self.forward(batch)
        if self.spec.input.output == "saliency":
            return normalize_prediction(out)
        return np.clip(out, 0.0, 1.0).astype(np.float32, copy=False)

    def infer_views(
        self, batch: np.ndarray, shape: tuple[int, int], settings: InferenceSettings | None = None
    ) -> list[np.ndarray]:
        """batch from `prepare` for an HxW photo → the network output over the photo's part of the input (the
        whole input without padding), float32 h×w in [0, 1]; with `settings.flip` also the mirrored pass's,
        flipped back."""
        settings = self.settings(settings)
        views = [self._output(batch)]
        if settings.flip:
            views.append(self._mirrored_output(batch, shape, settings))
        top, left, height, width = photo_box(shape, batch.shape[-2:], settings.pad_fraction_pct)
        return [np.ascontiguousarray(view[top : top + height, left : left + width]) for view in views]

    def _mirrored_output(self, batch: np.ndarray, shape: tuple[int, int], settings: InferenceSettings) -> np.ndarray:
        """The mirrored pass over `batch`'s frame, flipped back: float32 H'×W' in [0, 1]. With a `mirror_side`
        other than `size`, the mirrored input is `batch` resized to that side's frame and the output is resized
        back (`resize_prediction`), so both views cover the same pixels."""
        mirrored = np.ascontiguousarray(batch[..., ::-1])
        frame = tuple(batch.shape[-2:])
        if settings.mirror_side != settings.size:
            small = network_frame(shape, self.spec.input, settings.mirror_side, settings.pad_fraction_pct)
            if small != frame:
                mirrored = resize_batch(mirrored, small)
        output = np.ascontiguousarray(self._output(mirrored)[:, ::-1])
        return output if output.shape == frame else resize_prediction(output, frame)

    def join_views(self, views: list[np.ndarray]) -> np.ndarray:
        """The views of `infer_views` as one output, as `spec.input.mirror_combine` says: U²-Net keeps the
        pixelwise maximum, so a shoulder or lock of hair that either view finds stays (a mean turns that
        disagreement into a half-transparent ghost); MODNet's two mattes are averaged."""
        if len(views) == 1:
            return views[0]
        if self.spec.input.mirror_combine == "max":
            return np.maximum(views[0], views[1])
        return (views[0] + views[1]) * np.float32(0.5)

    def infer(self, batch: np.ndarray, shape: tuple[int, int], settings: InferenceSettings | None = None) -> np.ndarray:
        """batch from `prepare` for an HxW photo → float32 h×w in [0, 1]: the joined `infer_views`."""
        return self.join_views(self.infer_views(batch, shape, settings))

    def predict(self, image: np.ndarray, settings: InferenceSettings | None = None) -> np.ndarray:
        """image: uint8 HxWx3 RGB → float32 h×w in [0, 1], the network's output at network resolution."""
        return self.infer(self.prepare(image, settings), image.shape[:2], settings)

    def segment(self, image: np.ndarray, settings: InferenceSettings | None = None) -> np.ndarray:
        """image: uint8 HxWx3 RGB → alpha float32 HxW in [0, 1] (raw network mask, no refinement)."""
        return resize_prediction(self.predict(image, settings), image.shape[:2])


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
    """The shared Segmenter for (model, device, weights file), loading it on first use; for a combination
    (a registry entry with members, e.g. 'auto') a CombinedSegmenter over the members' shared Segmenters."""
    spec = get_spec(model)
    if spec.members:
        if weights_path is not None:
            raise SettingsError(
                f"--weights names one network's file, but '{model}' combines {' and '.join(spec.members)}: "
                f"choose one network with --model to use your own weights."
            )
        from core.combine import CombinedSegmenter  # imported here: core.combine builds on this module

        members = [get_segmenter(name, device, progress=progress, allow_download=allow_download) for name in spec.members]
        return CombinedSegmenter(spec, members)
    resolved = select_device(device)
    key = (model, str(resolved), str(Path(weights_path).resolve()) if weights_path else None)
    with _segmenters_lock:
        if key not in _segmenters:
            if resolved.type == "cpu":
                configure_cpu_threads()
            weights = load_weights(model, path=weights_path, progress=progress, allow_download=allow_download)
            _segmenters[key] = Segmenter(weights, resolved)
        return _segmenters[key]
