"""The U²-Net family (Qin et al., 2020) in PyTorch, with the official module names.

Attribute names match the reference implementation (`stage1`…`stage6`, `stage5d`…`stage1d`,
`side1`…`side6`, `outconv`; inside the RSU blocks `rebnconvin`, `rebnconv1`…, `rebnconv1d`…, each a
`conv_s1`/`bn_s1`/`relu_s1` triple), so the official `u2net.pth`, `u2net_human_seg.pth` and
`u2netp.pth` state dicts load with `strict=True`. Modules are registered in the order the forward pass
runs them; the ONNX importer in `core.weights` relies on that order.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _upsample_like(src: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Bilinear resize of `src` (N×C×h×w) to the spatial size of `target` (align_corners=False)."""
    return F.interpolate(src, size=target.shape[2:], mode="bilinear", align_corners=False)


class REBNCONV(nn.Module):
    """3×3 (dilated) convolution → BatchNorm → ReLU."""

    def __init__(self, in_ch: int = 3, out_ch: int = 3, dirate: int = 1) -> None:
        super().__init__()
        self.conv_s1 = nn.Conv2d(in_ch, out_ch, 3, padding=dirate, dilation=dirate)
        self.bn_s1 = nn.BatchNorm2d(out_ch)
        self.relu_s1 = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu_s1(self.bn_s1(self.conv_s1(x)))


class RSU(nn.Module):
    """Residual U-block of the given height (RSU-7 … RSU-4): an encoder/decoder U inside one stage.

    Levels 1…height-1 are separated by 2×2 max pooling (ceil mode); the bottom level uses dilation 2.
    """

    def __init__(self, height: int, in_ch: int, mid_ch: int, out_ch: int) -> None:
        super().__init__()
        if height < 3:
            raise ValueError(f"RSU height must be at least 3, got {height}")
        self.height = height
        self.rebnconvin = REBNCONV(in_ch, out_ch, dirate=1)
        self.rebnconv1 = REBNCONV(out_ch, mid_ch, dirate=1)
        for level in range(2, height):
            self.add_module(f"pool{level - 1}", nn.MaxPool2d(2, stride=2, ceil_mode=True))
            self.add_module(f"rebnconv{level}", REBNCONV(mid_ch, mid_ch, dirate=1))
        self.add_module(f"rebnconv{height}", REBNCONV(mid_ch, mid_ch, dirate=2))
        for level in range(height - 1, 1, -1):
            self.add_module(f"rebnconv{level}d", REBNCONV(mid_ch * 2, mid_ch, dirate=1))
        self.rebnconv1d = REBNCONV(mid_ch * 2, out_ch, dirate=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hxin = self.rebnconvin(x)
        encoded = [self.rebnconv1(hxin)]
        for level in range(2, self.height):
            pooled = getattr(self, f"pool{level - 1}")(encoded[-1])
            encoded.append(getattr(self, f"rebnconv{level}")(pooled))
        hx = getattr(self, f"rebnconv{self.height}")(encoded[-1])
        for level in range(self.height - 1, 0, -1):
            skip = encoded[level - 1]
            if level < self.height - 1:
                hx = _upsample_like(hx, skip)
            hx = getattr(self, f"rebnconv{level}d")(torch.cat((hx, skip), 1))
        return hx + hxin


class RSU7(RSU):
    def __init__(self, in_ch: int = 3, mid_ch: int = 12, out_ch: int = 3) -> None:
        super().__init__(7, in_ch, mid_ch, out_ch)


class RSU6(RSU):
    def __init__(self, in_ch: int = 3, mid_ch: int = 12, out_ch: int = 3) -> None:
        super().__init__(6, in_ch, mid_ch, out_ch)


class RSU5(RSU):
    def __init__(self, in_ch: int = 3, mid_ch: int = 12, out_ch: int = 3) -> None:
        super().__init__(5, in_ch, mid_ch, out_ch)


class RSU4(RSU):
    def __init__(self, in_ch: int = 3, mid_ch: int = 12, out_ch: int = 3) -> None:
        super().__init__(4, in_ch, mid_ch, out_ch)


class RSU4F(nn.Module):
    """RSU-4F: the 'flat' RSU block with dilations 1, 2, 4, 8 instead of pooling."""

    def __init__(self, in_ch: int = 3, mid_ch: int = 12, out_ch: int = 3) -> None:
        super().__init__()
        self.rebnconvin = REBNCONV(in_ch, out_ch, dirate=1)
        self.rebnconv1 = REBNCONV(out_ch, mid_ch, dirate=1)
        self.rebnconv2 = REBNCONV(mid_ch, mid_ch, dirate=2)
        self.rebnconv3 = REBNCONV(mid_ch, mid_ch, dirate=4)
        self.rebnconv4 = REBNCONV(mid_ch, mid_ch, dirate=8)
        self.rebnconv3d = REBNCONV(mid_ch * 2, mid_ch, dirate=4)
        self.rebnconv2d = REBNCONV(mid_ch * 2, mid_ch, dirate=2)
        self.rebnconv1d = REBNCONV(mid_ch * 2, out_ch, dirate=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hxin = self.rebnconvin(x)
        hx1 = self.rebnconv1(hxin)
        hx2 = self.rebnconv2(hx1)
        hx3 = self.rebnconv3(hx2)
        hx4 = self.rebnconv4(hx3)
        hx3d = self.rebnconv3d(torch.cat((hx4, hx3), 1))
        hx2d = self.rebnconv2d(torch.cat((hx3d, hx2), 1))
        hx1d = self.rebnconv1d(torch.cat((hx2d, hx1), 1))
        return hx1d + hxin


class _U2NetBase(nn.Module):
    """Six encoder stages, five decoder stages, six side outputs fused by a 1×1 `outconv`."""

    # (block class, in, mid, out) for stage1…stage6 and stage5d…stage1d; subclasses fill these in.
    ENCODER: tuple[tuple[type[nn.Module], int, int, int], ...] = ()
    DECODER: tuple[tuple[type[nn.Module], int, int, int], ...] = ()
    SIDE_CHANNELS: tuple[int, ...] = ()  # input channels of side1…side6

    def __init__(self, in_ch: int = 3, out_ch: int = 1) -> None:
        super().__init__()
        encoder = list(self.ENCODER)
        block, _, mid, out = encoder[0]
        encoder[0] = (block, in_ch, mid, out)
        for index, (block, cin, mid, cout) in enumerate(encoder, start=1):
            self.add_module(f"stage{index}", block(cin, mid, cout))
            if index < 6:
                self.add_module(f"pool{index}{index + 1}", nn.MaxPool2d(2, stride=2, ceil_mode=True))
        for index, (block, cin, mid, cout) in zip(range(5, 0, -1), self.DECODER):
            self.add_module(f"stage{index}d", block(cin, mid, cout))
        for index, channels in enumerate(self.SIDE_CHANNELS, start=1):
            self.add_module(f"side{index}", nn.Conv2d(channels, out_ch, 3, padding=1))
        self.outconv = nn.Conv2d(6 * out_ch, out_ch, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """x: float32 N×3×H×W (normalised) → (d0, d1, …, d6), each N×1×H×W sigmoid probabilities."""
        encoded = []
        hx = x
        for index in range(1, 7):
            if index > 1:
                hx = getattr(self, f"pool{index - 1}{index}")(encoded[-1])
            encoded.append(getattr(self, f"stage{index}")(hx))
        decoded = {6: encoded[5]}
        hx = encoded[5]
        for index in range(5, 0, -1):
            hx = _upsample_like(hx, encoded[index - 1])
            hx = getattr(self, f"stage{index}d")(torch.cat((hx, encoded[index - 1]), 1))
            decoded[index] = hx
        d1 = self.side1(decoded[1])
        sides = [d1] + [
            _upsample_like(getattr(self, f"side{index}")(decoded[index]), d1) for index in range(2, 7)
        ]
        d0 = self.outconv(torch.cat(sides, 1))
        return tuple(torch.sigmoid(d) for d in [d0, *sides])


class U2NET(_U2NetBase):
    """Full U²-Net (44.0 M parameters): `u2net.pth` and `u2net_human_seg.pth`."""

    ENCODER = (
        (RSU7, 3, 32, 64),
        (RSU6, 64, 32, 128),
        (RSU5, 128, 64, 256),
        (RSU4, 256, 128, 512),
        (RSU4F, 512, 256, 512),
        (RSU4F, 512, 256, 512),
    )
    DECODER = (
        (RSU4F, 1024, 256, 512),
        (RSU4, 1024, 128, 256),
        (RSU5, 512, 64, 128),
        (RSU6, 256, 32, 64),
        (RSU7, 128, 16, 64),
    )
    SIDE_CHANNELS = (64, 64, 128, 256, 512, 512)


class U2NETP(_U2NetBase):
    """U²-Net† lite (1.13 M parameters): `u2netp.pth` / rembg's `u2netp.onnx`."""

    ENCODER = (
        (RSU7, 3, 16, 64),
        (RSU6, 64, 16, 64),
        (RSU5, 64, 16, 64),
        (RSU4, 64, 16, 64),
        (RSU4F, 64, 16, 64),
        (RSU4F, 64, 16, 64),
    )
    DECODER = (
        (RSU4F, 128, 16, 64),
        (RSU4, 128, 16, 64),
        (RSU5, 128, 16, 64),
        (RSU6, 128, 16, 64),
        (RSU7, 128, 16, 64),
    )
    SIDE_CHANNELS = (64, 64, 64, 64, 64, 64)


ARCHITECTURES: dict[str, type[_U2NetBase]] = {"u2net": U2NET, "u2netp": U2NETP}


def build_model(architecture: str) -> _U2NetBase:
    """A freshly initialised model of the named architecture ('u2net' or 'u2netp'), in eval mode."""
    try:
        cls = ARCHITECTURES[architecture]
    except KeyError:
        raise ValueError(
            f"Unknown architecture {architecture!r}; choose one of {sorted(ARCHITECTURES)}"
        ) from None
    return cls().eval()


def parameter_count(model: nn.Module) -> int:
    """Number of learnable parameters of `model`."""
    return sum(p.numel() for p in model.parameters())
