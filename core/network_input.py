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
        "Also look at the mirrored photo and join the two views (U²-Net keeps what either finds, MODNet "
        "averages them): fewer dropped shoulders and hair, for one more network pass.",
    )
    mirror_size: float = float_field(
        0, 0, 1024, 32, "flip",
        "Network input of the mirrored pass in pixels (0: the same as input_size). A smaller one is faster, and "
        "seeing the photo at a second scale can find what one scale misses.",
    )
    input_size: float = float_field(
        320, 256, 1024, 32, "input_size",
        "Network input in pixels: the side of U²-Net's square input (trained at 320), the short side of "
        "MODNet's (trained at 512). Larger sees more detail and runs slower.",
    )

    def check(self) -> None:
        """The input sizes must be whole multiples of 32 (the network halves them five times)."""
        for name in ("input_size", "mirror_size"):
            value = getattr(self, name)
            if value % 32:
                raise SettingsError(
                    f"Setting '{name}' is {value:g}; choose a multiple of 32 such as 320, 384 or 512"
                    + (" (or 0: the same as input_size)." if name == "mirror_size" else ".")
                )
        if 0 < self.mirror_size < 256:
            raise SettingsError(
                f"Setting 'mirror_size' is {self.mirror_size:g}; choose 0 (the same as input_size) or 256 to 1024."
            )


    @property
    def pad_fraction_pct(self) -> float:
        """The padding actually applied, in % of the long side (0 when `pad` is off)."""
        return self.pad_pct if self.pad else 0.0

    @property
    def size(self) -> int:
        """The network input side in pixels."""
        return int(self.input_size)

    @property
    def mirror_side(self) -> int:
        """The mirrored pass's network input side in pixels (`size` unless mirror_size says otherwise)."""
        return int(self.mirror_size) or self.size
