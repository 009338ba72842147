"""Preset files: the recipe saved from the Tuning page (network input, refinement, edge colour, framing, shadow,
blur and output file) as JSON.

A preset holds one object per settings group, under the group's name (``PRESET_GROUPS``); a group a file
lacks is left as it is (a preset saved with the default combination has no network input), and a flat object
(older presets) holds refinement settings only. The dashboard saves and loads them; the command line applies
one with ``--preset``.
"""

from __future__ import annotations

import json
from pathlib import Path

from core.errors import SettingsError
from core.compose import OutputSettings
from core.composite import BlurSettings
from core.finishing import FinishSettings
from core.framing import FrameSettings
from core.refine import RefineSettings
from core.network_input import InferenceSettings
from core.settings import Settings
from core.shadow import ShadowSettings

__all__ = ["MAX_PRESET_BYTES", "PRESET_GROUPS", "preset_from_json", "preset_to_json", "read_preset"]

#: Each settings group's name in a preset file, in the order they apply.
PRESET_GROUPS: dict[str, type[Settings]] = {
    "inference": InferenceSettings, "refine": RefineSettings, "finish": FinishSettings, "frame": FrameSettings,
    "shadow": ShadowSettings, "blur": BlurSettings, "output": OutputSettings,
}
MAX_PRESET_BYTES = 64 * 1024  # a preset is under 2 kB


def preset_to_json(*settings: Settings) -> str:
    """A preset file's text: each settings object under its group's name."""
    names = {cls: name for name, cls in PRESET_GROUPS.items()}
    return json.dumps({names[type(s)]: s.to_dict() for s in settings}, indent=2)


def preset_from_json(text: bytes | str) -> dict[type[Settings], Settings]:
    """The settings each group of a preset file holds, by class, in PRESET_GROUPS order (missing fields take
    their defaults; groups the file lacks are absent).

    Raises SettingsError for anything else: a file over MAX_PRESET_BYTES, text that is not JSON (or nests
    deeper than the parser allows), an unknown setting, or a value out of its range (named, with the range).
    """
    if len(text) > MAX_PRESET_BYTES:
        raise SettingsError(
            f"the file is {len(text) // 1024} kB; a preset is a small JSON file (at most {MAX_PRESET_BYTES // 1024} kB) "
            f"saved with 'Save preset'."
        )
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and bad UTF-8 are ValueErrors
        reason = "it nests too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise SettingsError(f"it is not a Portrait Studio preset (not readable JSON: {reason}).") from None
    if not (isinstance(data, dict) and data and set(data) <= set(PRESET_GROUPS)):
        data = {"refine": data}
    return {cls: cls.from_dict(data[name]) for name, cls in PRESET_GROUPS.items() if name in data}


def read_preset(path: Path) -> dict[type[Settings], Settings]:
    """preset_from_json of a file; errors name the file."""
    try:
        if path.stat().st_size > MAX_PRESET_BYTES:
            raise SettingsError(f"{path}: the file is larger than a preset can be ({MAX_PRESET_BYTES // 1024} kB).")
        text = path.read_bytes()
    except OSError as exc:
        raise SettingsError(f"Cannot read the preset {path}: {exc.strerror or exc}.") from None
    try:
        return preset_from_json(text)
    except SettingsError as exc:
        raise SettingsError(f"{path}: {exc}") from None
