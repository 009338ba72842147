"""core.settings: every field checked for type and range, whatever the value (issue 11: a preset's 401-digit number)."""

from __future__ import annotations

import pytest

from core.errors import SettingsError
from core.refine import RefineSettings


@pytest.mark.parametrize("value", [10**400, -(10**400), float("nan"), float("inf"), "0.3", None, True])
def test_any_bad_number_is_a_settings_error_naming_the_field_and_range(value):
    with pytest.raises(SettingsError, match=r"feather_sigma_pct.*between 0\.0 and"):
        RefineSettings(feather_sigma_pct=value)


def test_from_dict_names_unknown_settings():
    with pytest.raises(SettingsError, match="Unknown refinement setting"):
        RefineSettings.from_dict({"sharpness": 1})


def test_basic_settings_carry_a_label_in_the_users_words():
    specs = {s.name: s for s in RefineSettings.field_specs()}
    assert specs["feather_sigma_pct"].basic == specs["feather_sigma_pct"].label == "Edge softness"
    assert specs["opening_size_pct"].basic is None and specs["opening_size_pct"].label == "Opening size (% of long side)"
