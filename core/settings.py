"""Settings dataclasses with validated fields whose metadata (help, range, step, group) drives the UI and CLI.

A settings class is a frozen dataclass subclassing `Settings`, with fields made by `float_field` /
`bool_field`; it is the one place where each default, range and one-line help text lives.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
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


def choice_field(default: str, choices: tuple[str, ...], group: str, help: str, basic: str | None = None) -> Any:
    """A field holding one of `choices` (lower-case words; a value is matched ignoring case), e.g. a kernel name."""
    return field(default=default, metadata={"help": help, "group": group, "basic": basic, "choices": tuple(choices)})


def text_field(
    default: str, group: str, help: str, parse: Callable[[str], str], suggestions: tuple[str, ...] = (),
    basic: str | None = None,
) -> Any:
    """A free-text field such as '4:5' or '35x45mm': `parse` returns its normal form or raises SettingsError
    saying what to write; `suggestions` are offered by the widgets (any value `parse` accepts is valid)."""
    metadata = {"help": help, "group": group, "basic": basic, "parse": parse, "suggestions": tuple(suggestions)}
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class FieldSpec:
    """Description of one settings field, for building a UI widget (slider or checkbox) or a CLI option."""

    name: str
    type: type  # bool, float or str
    default: bool | float | str
    help: str
    group: str
    min: float | None = None
    max: float | None = None
    step: float | None = None
    basic: str | None = None  # the label of a basic setting, in the user's words (None: an advanced one)
    choices: tuple[str, ...] = ()  # a str field's only values (choice_field), or its suggestions (text_field)
    free_text: bool = False  # a str field taking any text its parser accepts (text_field)

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
    #: The group's on/off field that giving any of its other values turns on (the command line's --shadow-opacity-pct
    #: alone means "a shadow, this dark"); "" when the class has none.
    SWITCH = ""
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
            if f.type in ("str", str):
                object.__setattr__(self, f.name, _check_text(f, value))
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

    def to_dict(self) -> dict[str, bool | float | str]:
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
            kind = {"bool": bool, "str": str}.get(f.type, f.type if f.type in (bool, str) else float)
            number = kind is float
            specs.append(
                FieldSpec(
                    name=f.name,
                    type=kind,
                    default=f.default,
                    help=f.metadata["help"],
                    group=f.metadata["group"],
                    min=f.metadata["min"] if number else None,
                    max=f.metadata["max"] if number else None,
                    step=f.metadata["step"] if number else None,
                    basic=f.metadata.get("basic"),
                    choices=f.metadata.get("choices", f.metadata.get("suggestions", ())),
                    free_text="parse" in f.metadata,
                )
            )
        return specs


def _check_text(f: dataclasses.Field, value: Any) -> str:
    """A str field's value in its normal form: one of its choices (any case), or what its parser makes of it."""
    if not isinstance(value, str):
        raise SettingsError(f"Setting '{f.name}' must be text, got {value!r}.")
    if "parse" in f.metadata:
        try:
            return f.metadata["parse"](value)
        except SettingsError as exc:
            raise SettingsError(f"Setting '{f.name}': {exc}") from None
    choices = f.metadata["choices"]
    if value.strip().lower() not in choices:
        raise SettingsError(f"Setting '{f.name}' is {value!r}; choose one of: {', '.join(choices)}.")
    return value.strip().lower()
