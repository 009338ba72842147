"""How the photo is shown to a network (`InferenceSettings`) and the devices it can run on: plain settings, no
PyTorch, so the command line can describe them without loading it."""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import SettingsError
from core.settings import Settings, bool_field, float_field

__all__ = ["DEVICE_CHOICES", "InferenceSettings"]

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


@dataclass(frozen=True)
class InferenceSettings(Settings):
    """How the photo is shown to the network (changing these runs the network again)."""

    KIND = "inference"
    MODEL_FIELD = "inference"

    pad: bool = bool_field(
        True, "pad",
        "Extend the photo's edges before the network sees it, so hair, shoulders and clothes cut by the "
        "frame are not read as background.",
    )
    pad_pct: float = float_field(
        10.0, 1.0, 30.0, 1.0, "pad", "Border added on every side, in % of the long side (edge pixels repeated).",
    )
    flip: bool = bool_field(
        True, "flip",
        "Also look at the mirrored photo and keep what either view finds: fewer dropped shoulders and hair "
        "(twice the network time).",
    )
    input_size: float = float_field(
        320, 256, 1024, 32, "input_size",
        "Network input in pixels: the side of U²-Net's square input (trained at 320), the short side of "
        "MODNet's (trained at 512). Larger sees more detail and runs slower.",
    )

    def check(self) -> None:
        """The input size must be a whole multiple of 32 (the network halves it five times)."""
        if self.input_size % 32:
            raise SettingsError(
                f"Setting 'input_size' is {self.input_size:g}; choose a multiple of 32 such as 320, 384 or 512."
            )


    @property
    def pad_fraction_pct(self) -> float:
        """The padding actually applied, in % of the long side (0 when `pad` is off)."""
        return self.pad_pct if self.pad else 0.0

    @property
    def size(self) -> int:
        """The network input side in pixels."""
        return int(self.input_size)
