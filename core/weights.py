"""Named models (U²-Net family, MODNet, and the `auto` combination): the registry with each model's preprocessing
facts, where files are found, safe download, and loading .pth / .onnx.

Search order for a model's file: an explicit path, the package's `core/bundled_weights/` folder (holds the
bundled `u2netp.onnx` and `modnet.onnx`; it ships inside the installed package), then `$U2NET_HOME` or, when
unset, `~/.u2net` (where rembg users already have these files). Missing non-bundled weights are downloaded
into that last folder.

Safety: `.pth` files are read only with `torch.load(weights_only=True)`, which refuses pickled code;
files of known models are md5-checked before use, so a truncated or tampered file is never half-used.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from pathlib import Path

from typing import TYPE_CHECKING

from core.errors import WeightsError, WeightsUnavailableError

if TYPE_CHECKING:  # PyTorch is imported where weights are read: the registry and file checks need none of it
    import torch
    from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: The weights shipped with the package (package data: present in a checkout and in an installed copy alike).
BUNDLED_WEIGHTS_DIR = Path(__file__).resolve().parent / "bundled_weights"
RELEASE_URL = "https://github.com/danielgatis/rembg/releases/download/v0.0.0/"

ProgressCallback = Callable[[int, "int | None"], None]  # (bytes done, total bytes or None)


@dataclass(frozen=True)
class InputFacts:
    """How a model's weights expect the photo and what they return (kept beside the weights entry, as timm does).

    `size` is the reference input: the side of a square input (`square`), or else the short side of an input
    that keeps the photo's aspect, both sides rounded down to a multiple of `multiple`; a photo whose short
    side is at most `size` and whose long side is at least `size` keeps its own size (MODNet's reference
    rule). Pixels are resampled with `resample` ("lanczos" as Pillow does; "area": OpenCV's area filter when
    shrinking and bilinear when enlarging, because an area (or PyTorch 'area') upscale repeats pixels in
    blocks, and MODNet fed such a blocky small photo loses the person), divided by
    the resized image's maximum (`scale` "max") or by 255 ("255"), then normalised by `mean` and `std`.
    `output` "saliency" is a probability map that is min–max normalised; "matte" is an alpha matte used as
    it is. `mirror_combine` joins a mirrored pass: "max" keeps what either view finds, "mean" averages.
    """

    size: int = 320
    square: bool = True
    multiple: int = 32
    resample: Literal["lanczos", "area"] = "lanczos"  # "area": OpenCV's area when shrinking, bilinear when enlarging
    scale: Literal["max", "255"] = "max"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    output: Literal["saliency", "matte"] = "saliency"
    mirror_combine: Literal["max", "mean"] = "max"


U2NET_INPUT = InputFacts()
#: Refinement measured best for U²-Net's masks (bench.quality); the class defaults are the default model's.
U2NET_REFINE = {"edge_aware": True, "main_subject": False, "matting_band_pct": 1.5}
MODNET_INPUT = InputFacts(
    size=512, square=False, resample="area", scale="255", mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5),
    output="matte", mirror_combine="mean",
)


@dataclass(frozen=True)
class ModelSpec:
    """A named model: its file, checksum, address, preprocessing facts and the settings measured best for it.

    `inference` and `refine` hold the fields of InferenceSettings / RefineSettings whose best value for this
    model differs from the class default (chosen by `bench.quality`). A combination (`members` not empty)
    has no file of its own: it runs its member models and joins their outputs (core.combine).
    """

    name: str
    architecture: str  # "u2net", "u2netp", "modnet" or "combination"
    filename: str
    md5: str
    url: str
    description: str
    size_mb: float
    input: InputFacts = U2NET_INPUT
    bundled: bool = False
    good_at: str = ""
    inference: Mapping[str, bool | float] = field(default_factory=dict)
    refine: Mapping[str, bool | float] = field(default_factory=dict)
    members: tuple[str, ...] = ()
    #: md5 of the official PyTorch checkpoint `<name>.pth` (several: the sources that publish them disagree on
    #: which of two digests belongs to u2net and which to u2net_human_seg, so either is accepted for both).
    pth_md5: tuple[str, ...] = ()
    #: Learnable parameters of the network (core.model.parameter_count of its PyTorch model; a test checks it),
    #: so that it can be shown without building that model.
    parameters: int = 0

    @property
    def input_size(self) -> int:
        """The reference network input in pixels (square side or short side, see InputFacts)."""
        return self.input.size


U2NET_PTH_MD5 = ("347c3d51b01528e5c6c071e3cff1cb55", "09fb4e49b7f785c9f855baf94916840a")  # rembg 1.x tables
#: No supported model comes near this (the largest, u2net, is 176 MB): a bigger file is refused before it is read.
MAX_WEIGHTS_BYTES = 1 << 30

REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="auto",
            architecture="combination",
            filename="",
            md5="",
            url="",
            description="Portrait + U²-Net: MODNet and U²-Net† together, each trusted where it is stronger (bundled).",
            size_mb=30.5,
            bundled=True,
            good_at="everything: keeps the whole person in tight portraits and finds small people in wide scenes",
            members=("modnet", "u2netp"),
            parameters=6_459_553 + 1_131_181,
        ),
        ModelSpec(
            name="modnet",
            architecture="modnet",
            filename="modnet.onnx",
            md5="d0ded73e80bc0d38a64e2286486e4ea3",
            url="",
            description="MODNet, 6.5 M parameters: portrait matting network (bundled).",
            size_mb=25.9,
            input=MODNET_INPUT,
            # 384 px (not the authors' 512) and the mirrored pass at 320: the two scales' mean beats one scale
            # on both dev sets, at 0.73× the pixels of two 416-px passes (bench.quality, `auto_modnet<size>` and
            # `auto_mirror<size>` rows in bench/results/quality.md)
            inference={"pad": False, "input_size": 384, "mirror_size": 320},
            parameters=6_459_553,
            bundled=True,
            good_at="portraits where the person fills much of the frame: whole shoulders, clothes and hair",
        ),
        ModelSpec(
            name="u2netp",
            refine=U2NET_REFINE,
            architecture="u2netp",
            filename="u2netp.onnx",
            md5="8e83ca70e441ab06c318d82300c84806",
            pth_md5=("e4f636406ca4e2af789941e7f139ee2e",),  # rembg 1.x download table
            url=RELEASE_URL + "u2netp.onnx",
            description="U²-Net† lite, 1.1 M parameters: fast general salient-object model (bundled).",
            size_mb=4.6,
            parameters=1_131_181,
            bundled=True,
            good_at="people who are small in the picture, groups and scenes",
        ),
        ModelSpec(
            name="u2net",
            refine=U2NET_REFINE,
            architecture="u2net",
            filename="u2net.onnx",
            md5="60024c5c889badc19c04ad937298a77b",
            url=RELEASE_URL + "u2net.onnx",
            pth_md5=U2NET_PTH_MD5,
            description="Full U²-Net, 44 M parameters: general salient objects, finer than u2netp.",
            size_mb=176.0,
            parameters=44_009_869,
            good_at="general objects (download)",
        ),
        ModelSpec(
            name="u2net_human_seg",
            refine=U2NET_REFINE,
            architecture="u2net",
            filename="u2net_human_seg.onnx",
            md5="c09ddc2e0104f800e3e1bb4652583d1f",
            url=RELEASE_URL + "u2net_human_seg.onnx",
            pth_md5=U2NET_PTH_MD5,
            description="Full U²-Net trained on people (not measured here: a 176 MB download).",
            size_mb=176.0,
            parameters=44_009_869,
            good_at="people (download; not measured here)",
        ),
    )
}
DEFAULT_MODEL = "auto"
#: The bundled single network that any machine can fall back to.
FALLBACK_MODEL = "u2netp"


def get_spec(name: str) -> ModelSpec:
    """The registry entry called `name`; a clear error listing the known names otherwise."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise WeightsError(f"Unknown model {name!r}; choose one of: {', '.join(REGISTRY)}.") from None


def download_dir() -> Path:
    """Folder that receives downloaded weights: `$U2NET_HOME`, else `~/.u2net` (shared with rembg)."""
    home = os.environ.get("U2NET_HOME")
    return Path(home).expanduser() if home else Path.home() / ".u2net"


def search_dirs() -> list[Path]:
    """Folders searched for weight files, in order."""
    return [BUNDLED_WEIGHTS_DIR, download_dir()]


def find_weights(spec: ModelSpec) -> Path | None:
    """First existing file for `spec` in `search_dirs()`: `<filename>`, else the official `<name>.pth`."""
    for folder in search_dirs():
        for candidate in (folder / spec.filename, folder / f"{spec.name}.pth"):
            if candidate.is_file():
                return candidate
    return None


def md5_of(path: Path) -> str:
    """Hex md5 of the file at `path`, read in 1 MiB blocks."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_md5(path: Path, spec: ModelSpec) -> None:
    """Raise WeightsError unless the file at `path` has the md5 that `spec` expects."""
    actual = md5_of(path)
    if actual != spec.md5:
        raise WeightsError(
            f"{path} has md5 {actual}, but the official {spec.filename} has md5 {spec.md5}: "
            f"the file is truncated, corrupt or has been altered. Delete it and let Portrait Studio "
            f"download it again, or download {spec.url} yourself into {download_dir()}."
        )


_BAD_FILES: dict[tuple[str, int, int], WeightsError] = {}  # (path, size, mtime) -> why it was refused


def check_weights_file(path: Path, spec: ModelSpec) -> None:
    """Size-check `path` before reading it, and md5-check it when it bears a known name (`spec.filename`, or
    the official `<name>.pth`); a refusal is remembered by path, size and modification time, so a dashboard
    rerun does not hash the same bad file again. Raises WeightsError."""
    info = path.stat()
    key = (str(path.resolve()), info.st_size, info.st_mtime_ns)
    if key in _BAD_FILES:
        raise _BAD_FILES[key]
    try:
        if info.st_size > MAX_WEIGHTS_BYTES:
            raise WeightsError(
                f"{path} is {info.st_size / 2**30:.1f} GB, larger than any supported model (at most "
                f"{MAX_WEIGHTS_BYTES >> 20} MB; {spec.name} is {spec.size_mb:g} MB): it is not {spec.name}'s weights."
            )
        if path.name == spec.filename:
            verify_md5(path, spec)
        elif path.name == f"{spec.name}.pth" and spec.pth_md5 and (actual := md5_of(path)) not in spec.pth_md5:
            raise WeightsError(
                f"{path} is not the official {spec.name}.pth (its md5 {actual} is not "
                f"{' or '.join(spec.pth_md5)}): the file is truncated, corrupt or has been altered. "
                f"Download it again, or give a renamed file with --weights if it is your own training."
            )
    except WeightsError as exc:
        _BAD_FILES[key] = exc
        raise


def download_weights(
    spec: ModelSpec,
    *,
    dest_dir: Path | None = None,
    url: str | None = None,
    progress: ProgressCallback | None = None,
    timeout: float = 30.0,
) -> Path:
    """Download `spec`'s file into `dest_dir`, md5-verify it, then atomically rename it into place.

    The file is streamed to a temporary name in the same folder; on any failure the temporary file is
    removed, so nothing partial is ever left under the final name.
    """
    dest_dir = Path(dest_dir) if dest_dir is not None else download_dir()
    url = url or spec.url
    final = dest_dir / spec.filename
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WeightsUnavailableError(
            f"Cannot create the weights folder {dest_dir} ({exc}). Set U2NET_HOME to a writable folder."
        ) from exc
    handle = tempfile.NamedTemporaryFile(dir=dest_dir, prefix=f".{spec.filename}.", suffix=".part", delete=False)
    temporary = Path(handle.name)
    try:
        with handle:
            digest = hashlib.md5()
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    length = response.headers.get("Content-Length")
                    total = int(length) if length and length.isdigit() else None
                    done = 0
                    if progress:
                        progress(0, total)
                    for block in iter(lambda: response.read(1 << 16), b""):
                        handle.write(block)
                        digest.update(block)
                        done += len(block)
                        if progress:
                            progress(done, total)
            except (urllib.error.URLError, OSError, ValueError) as exc:
                raise WeightsUnavailableError(
                    f"Could not download {spec.filename} from {url} ({exc}). Without a network, "
                    f"download it on another machine and put it in {dest_dir} (or set U2NET_HOME), "
                    f"or choose the bundled model '{DEFAULT_MODEL}'."
                ) from exc
        if total is not None and done != total:
            raise WeightsUnavailableError(
                f"The download of {spec.filename} from {url} stopped after {done} of {total} bytes. Try again."
            )
        if digest.hexdigest() != spec.md5:
            raise WeightsError(
                f"The file downloaded from {url} has md5 {digest.hexdigest()}, not the expected {spec.md5}; "
                f"it was discarded. Try again later, or put a verified {spec.filename} in {dest_dir}."
            )
        os.replace(temporary, final)
    finally:
        temporary.unlink(missing_ok=True)
    return final


def ensure_weights(
    spec: ModelSpec, *, progress: ProgressCallback | None = None, allow_download: bool = True
) -> Path:
    """Path of a local file for `spec`, downloading it on first use when allowed."""
    found = find_weights(spec)
    if found is not None:
        return found
    if spec.bundled or not spec.url:
        raise WeightsUnavailableError(
            f"The bundled weights file {spec.filename} of '{spec.name}' is missing from {BUNDLED_WEIGHTS_DIR}. "
            f"Restore it from the repository (git checkout -- core/bundled_weights/{spec.filename}) or reinstall Portrait Studio."
        )
    if not allow_download:
        raise WeightsUnavailableError(
            f"The weights of '{spec.name}' ({spec.filename}, {spec.size_mb:.0f} MB) are not on this machine. "
            f"Download {spec.url} and put it in {download_dir()} (or set U2NET_HOME)."
        )
    return download_weights(spec, progress=progress)


# --------------------------------------------------------------------------------------------------
# Loading into the PyTorch model


def _architecture_of(state: dict[str, torch.Tensor], path: Path) -> str:
    """Which architecture's exact key/shape layout `state` has; WeightsError if none."""
    from core.model import ARCHITECTURES, build_model
    shapes = {key: tuple(value.shape) for key, value in state.items()}
    for name in ARCHITECTURES:
        reference = {key: tuple(value.shape) for key, value in build_model(name).state_dict().items()}
        if shapes == reference:
            return name
    reference = build_model("u2net").state_dict()
    missing = sorted(set(reference) - set(shapes))[:3]
    unexpected = sorted(set(shapes) - set(reference))[:3]
    raise WeightsError(
        f"{path} is not a U²-Net checkpoint: its keys and shapes match neither u2net nor u2netp "
        f"(e.g. missing {missing or 'none'}, unexpected {unexpected or 'none'}). Use an official "
        f"u2net.pth / u2net_human_seg.pth / u2netp.pth or one of rembg's .onnx exports."
    )


def read_pth_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a `.pth` checkpoint, read with weights_only=True; a `module.` prefix is removed."""
    import torch
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise WeightsError(
            f"Refused to load {path}: it holds Python objects besides tensors, which could run code "
            f"when loaded. Use a plain state dict (official U²-Net .pth files are)."
        ) from exc
    except Exception as exc:  # zip/EOF/format errors from torch: all mean "not a readable checkpoint"
        raise WeightsError(
            f"{path} is not a readable PyTorch checkpoint ({type(exc).__name__}: {exc}); it may be "
            f"truncated or corrupt. Download it again."
        ) from exc
    if isinstance(loaded, dict) and isinstance(loaded.get("state_dict"), dict):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, dict) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise WeightsError(f"{path} does not hold a state dict of tensors, so it is not a U²-Net checkpoint.")
    return {key.removeprefix("module."): value for key, value in loaded.items()}


def model_from_pth(path: Path, architecture: str | None = None) -> nn.Module:
    """A model with the `.pth` state dict loaded strictly (architecture detected when not given)."""
    from core.model import build_model
    state = read_pth_state_dict(path)
    detected = _architecture_of(state, path)
    if architecture is not None and detected != architecture:
        raise WeightsError(f"{path} holds a {detected} checkpoint, but a {architecture} model was asked for.")
    model = build_model(detected)
    model.load_state_dict(state, strict=True)
    return model.eval()


def read_onnx(path: Path, what_to_do: str = "Download it again.") -> tuple["object", dict[str, "object"]]:
    """(graph, constants by name: initializers and Constant nodes as numpy arrays) of an ONNX file;
    WeightsError ending in `what_to_do` when the file cannot be read."""
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError as exc:  # pragma: no cover - onnx is in requirements.txt
        raise WeightsError("Reading .onnx weights needs the 'onnx' package: pip install -r requirements.txt") from exc
    try:
        graph = onnx.load(str(path)).graph
        constants = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
        for node in graph.node:
            if node.op_type == "Constant":
                for attribute in node.attribute:
                    if attribute.name == "value":
                        constants[node.output[0]] = numpy_helper.to_array(attribute.t)
    except Exception as exc:
        raise WeightsError(
            f"{path} is not a readable ONNX file ({type(exc).__name__}); it may be truncated or corrupt. {what_to_do}"
        ) from exc
    return graph, constants


def _onnx_conv_weights(path: Path) -> list[tuple[str, "object", "object | None", tuple[int, ...]]]:
    """(node name, weight, bias, dilations) of every Conv node of an ONNX file, in graph order."""
    graph, constants = read_onnx(path)
    convs = []
    for node in graph.node:
        if node.op_type != "Conv":
            continue
        if node.input[1] not in constants:
            raise WeightsError(f"{path}: Conv node {node.name} takes its weights from a computed tensor.")
        bias = constants.get(node.input[2]) if len(node.input) > 2 else None
        dilations = next((tuple(a.ints) for a in node.attribute if a.name == "dilations"), (1, 1))
        convs.append((node.name, constants[node.input[1]], bias, dilations))
    return convs


def model_from_onnx(path: Path, architecture: str | None = None) -> nn.Module:
    """A model holding the weights of a rembg `.onnx` export (BatchNorm folded into the convolutions).

    Convolution weights are copied in graph order into the model's convolutions (registered in
    execution order), and every BatchNorm is set to the identity (weight 1, bias 0, mean 0,
    var 1 − eps), so the PyTorch model computes what the ONNX graph computes.
    """
    import torch
    from torch import nn

    from core.model import ARCHITECTURES, build_model
    convs = _onnx_conv_weights(path)
    candidates = [architecture] if architecture else list(ARCHITECTURES)
    for name in candidates:
        model = build_model(name)
        modules = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
        if len(modules) == len(convs) and all(
            tuple(m.weight.shape) == tuple(w.shape) and tuple(m.dilation) == d
            for m, (_, w, _, d) in zip(modules, convs)
        ):
            break
    else:
        raise WeightsError(
            f"{path} is not a U²-Net ONNX export: its {len(convs)} convolutions do not match the layout of "
            f"{' or '.join(candidates)}. Use one of rembg's u2net / u2netp / u2net_human_seg .onnx files."
        )
    with torch.no_grad():
        for module, (_, weight, bias, _) in zip(modules, convs):
            module.weight.copy_(torch.from_numpy(weight.copy()))
            if bias is not None:
                module.bias.copy_(torch.from_numpy(bias.copy()))
            else:
                module.bias.zero_()
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.weight.fill_(1.0)
                module.bias.zero_()
                module.running_mean.zero_()
                module.running_var.fill_(1.0 - module.eps)
    return model.eval()


class LoadedWeights:
    """A model's weights file, checked, and the PyTorch model built from it (in eval mode, on first use of `model`:
    a process that runs the file in onnxruntime never imports PyTorch)."""

    def __init__(self, model: nn.Module | None, spec: ModelSpec, path: Path) -> None:
        self.spec, self.path = spec, path
        self._model = model
        self._lock = threading.Lock()

    @property
    def model(self) -> nn.Module:
        with self._lock:
            if self._model is None:
                self._model = build_from_file(self.spec, self.path)
            return self._model


def build_from_file(spec: ModelSpec, file: Path) -> nn.Module:
    """The PyTorch model of `spec` with the weights of `file` (.onnx or .pth), in eval mode, without gradients."""
    suffix = file.suffix.lower()
    if spec.architecture == "modnet":
        if suffix != ".onnx":
            raise WeightsError(f"{file}: MODNet weights must be the .onnx file ({spec.filename}).")
        from core.modnet import modnet_from_onnx  # imported here: only MODNet users pay for it

        model = modnet_from_onnx(file)
    elif suffix == ".onnx":
        model = model_from_onnx(file, spec.architecture)
    elif suffix in (".pth", ".pt"):
        model = model_from_pth(file, spec.architecture)
    else:
        raise WeightsError(f"{file}: weights must be a .pth (PyTorch) or .onnx (rembg) file.")
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


def load_weights(
    name: str = DEFAULT_MODEL,
    *,
    path: str | os.PathLike | None = None,
    progress: ProgressCallback | None = None,
    allow_download: bool = True,
) -> LoadedWeights:
    """The named model's weights (from `path` when given), md5-checking files of known models first.

    A known model's own file (its md5 checked) builds its PyTorch model on first use; any other file is built
    now, so that a file that is not the model fails here, with its message."""
    spec = get_spec(name)
    if spec.members:
        raise WeightsError(f"'{name}' combines {' and '.join(spec.members)}: load each of them instead.")
    if path is not None:
        file = Path(path).expanduser()
        if not file.is_file():
            raise WeightsError(f"Weights file {file} does not exist. Check the path.")
    else:
        file = ensure_weights(spec, progress=progress, allow_download=allow_download)
    check_weights_file(file, spec)
    if file.suffix.lower() not in (".onnx", ".pth", ".pt"):
        raise WeightsError(f"{file}: weights must be a .pth (PyTorch) or .onnx (rembg) file.")
    checked = bool(spec.md5) and file.name == spec.filename
    return LoadedWeights(None if checked else build_from_file(spec, file), spec, file)
