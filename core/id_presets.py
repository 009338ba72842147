"""ID-photo and profile presets as data: one row per preset, each with the rule it follows named beside it.

Lengths are in the preset's unit: millimetres or inches for print sizes (turned into pixels at the chosen DPI), pixels
for screen sizes. The head is measured from the chin to the crown (the top of the hair), the eyes from the
photo's bottom edge. `core.idphoto` places the subject by these numbers and says in words when a photo
cannot meet them.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ID_PRESETS", "IdPreset"]


@dataclass(frozen=True)
class IdPreset:
    """One preset: canvas size, head size range, and where the head goes (crown gap or eye height)."""

    name: str  # what --id-photo takes
    label: str  # in the user's words
    width: float
    height: float
    unit: str  # "mm" or "in" (printed, needs a DPI) or "px" (on screen)
    head: tuple[float, float]  # chin to crown, smallest and largest allowed, in `unit`
    crown_gap: float | None = None  # from the canvas's top to the crown, in `unit` (when eyes is None)
    eyes: tuple[float, float] | None = None  # eye line above the bottom edge, allowed range, in `unit`
    background: tuple[int, int, int] = (255, 255, 255)  # the plain light background it asks for
    source: str = ""

    @property
    def head_target(self) -> float:
        """The head height aimed at: the middle of the allowed range."""
        return (self.head[0] + self.head[1]) / 2

    @property
    def printed(self) -> bool:
        """Whether the preset is a print size (in mm or inches, turned into pixels at a DPI)."""
        return self.unit != "px"

    @property
    def size_text(self) -> str:
        """The size as FrameSettings.size writes it ('35x45mm', '1080x1080')."""
        return f"{self.width:g}x{self.height:g}{'' if self.unit == 'px' else self.unit}"


ID_PRESETS: dict[str, IdPreset] = {
    preset.name: preset
    for preset in (
        # ICAO Doc 9303 part 3 (machine-readable travel documents) as applied by the EU/Schengen visa photo rules:
        # 35x45 mm, chin to crown 32-36 mm (70-80 % of the height), a plain light grey or white background.
        # The crown sits 4 mm below the top edge, the middle of the common 3-5 mm guidance.
        IdPreset("passport-35x45", "passport / ID 35x45 mm", 35, 45, "mm",
                 head=(32, 36), crown_gap=4, background=(238, 238, 238), source="ICAO Doc 9303, as the EU, UK and most countries apply it"),
        # U.S. Department of State, travel.state.gov "Photo requirements": 2x2 in, head 1 to 1 3/8 in (25-35 mm) from
        # the bottom of the chin to the top of the head, eye height 1 1/8 to 1 3/8 in (28-35 mm) from the bottom,
        # plain white or off-white background.
        IdPreset("us-2x2", "US passport / visa 2x2 in", 2, 2, "in",
                 head=(1, 1.375), eyes=(1.125, 1.375), background=(255, 255, 255), source="travel.state.gov photo requirements"),
        # Social-profile crops (no official rule): square 1080 px and Instagram's 4:5 portrait 1080x1350; the head
        # fills about half the height, so it stays whole inside the circle most sites cut the square to.
        IdPreset("profile-1x1", "1:1 profile picture", 1080, 1080, "px",
                 head=(486, 594), crown_gap=130, background=(240, 240, 240), source="common practice for 1:1 profile pictures"),
        IdPreset("profile-4x5", "4:5 profile picture", 1080, 1350, "px",
                 head=(540, 675), crown_gap=160, background=(240, 240, 240), source="Instagram 4:5 portrait size"),
    )
}
