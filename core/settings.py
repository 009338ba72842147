"""Settings dataclasses with validated fields whose metadata (help, range, step, group) drives the UI and CLI.

A settings class is a frozen dataclass subclassing `Settings`, with fields made by `float_field` /
`bool_field`; it is the one place where each default, range and one-line help text lives.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from core.errors import SettingsError

S = TypeVar("S", bound="Settings")


def float_field(
    default: float, lo: float, hi: float, step: float, group: str, help: str, basic: str | None = None
) -> Any:
    """A number field with its range, slider step, widget group and one-line help; `basic` (a label in the
    user's words) puts it among the few settings shown first."""
    return field(default=default, metadata={"help": help, "min": lo, "max": hi, "step": step, "group": group, "basic": basic})


def bool_field(default: bool, group: str, help: str, basic: str | None = None) -> Any:
    """An on/off field (usually the switch of a group) with its one-line help; `basic` as for float_field."""
    return field(default=default, metadata={"help": help, "group": group, "basic": basic})


@dataclass(frozen=True)
class FieldSpec:
    """Description of one settings field, for building a UI widget (slider or checkbox) or a CLI option."""

    name: str
    type: type  # bool or float
    default: bool | float
    help: str
    group: str
    min: float | None = None
    max: float | None = None
    step: float | None = None
    basic: str | None = None  # the label of a basic setting, in the user's words (None: an advanced one)

    @property
    def label(self) -> str:
        """Human label: a basic setting's own, else from the name ('feather_sigma_pct' -> 'Feather sigma (% of long side)')."""
        if self.basic:
            return self.basic
        words = self.name.split("_")
        unit = " (% of long side)" if words[-1] == "pct" else ""
        words = words[:-1] if unit else words
        return " ".join(words).capitalize() + unit


class Settings:
    """Base of the settings dataclasses: type and range checks, dict round trip, field descriptions."""

    KIND = "settings"  # used in messages, e.g. "refinement"
    #: The attribute of a registry entry (core.weights.ModelSpec) holding this class's values measured best
    #: for that model, or "" when the class has no per-model values.
    MODEL_FIELD = ""

    def __post_init__(self) -> None:
        """Check types and ranges of every field; raises SettingsError naming the field and range."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.type in ("bool", bool):
                if not isinstance(value, (bool, np.bool_)):
                    raise SettingsError(f"Setting '{f.name}' must be true or false, got {value!r}.")
                object.__setattr__(self, f.name, bool(value))
                continue
            lo, hi = f.metadata["min"], f.metadata["max"]
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise SettingsError(f"Setting '{f.name}' must be a number between {lo} and {hi}, got {value!r}.")
            try:
                value = float(value)
            except OverflowError:  # an integer too large for a float, e.g. 401 digits from a preset
                value = math.inf if value > 0 else -math.inf
            if not (math.isfinite(value) and lo <= value <= hi):
                raise SettingsError(f"Setting '{f.name}' is {value!r}; choose a value between {lo} and {hi}.")
            object.__setattr__(self, f.name, value)
        self.check()

    def check(self) -> None:
        """Checks across fields; subclasses override (raise SettingsError saying what to change)."""

    def to_dict(self) -> dict[str, bool | float]:
        """Plain dict of all fields (JSON-serialisable), e.g. for saving a preset."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def for_model(cls: type[S], spec: Any, **changes: Any) -> S:
        """The values measured best for the registry entry `spec` (class defaults elsewhere), with `changes`."""
        measured = getattr(spec, cls.MODEL_FIELD, {}) if cls.MODEL_FIELD else {}
        return cls(**{**measured, **changes})

    @classmethod
    def from_dict(cls: type[S], d: Mapping[str, Any]) -> S:
        """Build settings from a dict such as a JSON preset; missing keys take their defaults."""
        if not isinstance(d, Mapping):
            raise SettingsError(
                f"{cls.KIND.capitalize()} settings must be a mapping of name -> value (a JSON object), "
                f"got {type(d).__name__}."
            )
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(str(k) for k in d if k not in names)
        if unknown:
            raise SettingsError(
                f"Unknown {cls.KIND} setting(s): {', '.join(unknown)}. Valid names are: {', '.join(names)}."
            )
        return cls(**dict(d))

    @classmethod
    def field_specs(cls) -> list[FieldSpec]:
        """One FieldSpec per field, in declaration order (each switch before its sliders)."""
        specs = []
        for f in dataclasses.fields(cls):
            is_bool = f.type in ("bool", bool)
            specs.append(
                FieldSpec(
                    name=f.name,
                    type=bool if is_bool else float,
                    default=f.default,
                    help=f.metadata["help"],
                    group=f.metadata["group"],
                    min=None if is_bool else f.metadata["min"],
                    max=None if is_bool else f.metadata["max"],
                    step=None if is_bool else f.metadata["step"],
                    basic=f.metadata.get("basic"),
                )
            )
        return specs
