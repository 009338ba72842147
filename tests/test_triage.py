"""Unit tests for core.triage: the score's ingredients on synthetic masks with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.combine import disagreement
from core.triage import DISAGREEMENT_SCALE, UNCERTAIN_SCALE, needs_a_look, saturate, uncertain_share


def test_uncertain_share_counts_soft_pixels_per_subject_pixel():
    p = np.zeros((10, 10), np.float32)
    p[:4] = 1.0  # 40 subject pixels
    p[4, :5] = 0.5  # 5 soft pixels that also count as subject (>= 0.5)
    p[5, :5] = 0.3  # 5 soft pixels that do not
    p[6, :5] = 0.1  # on the bound: not soft
    assert uncertain_share(p) == pytest.approx(10 / 45)
    assert uncertain_share(np.zeros((4, 4), np.float32)) == math.inf


def test_saturate_is_half_at_the_scale_and_one_at_infinity():
    assert saturate(0.0, 0.2) == 0.0
    assert saturate(0.2, 0.2) == 0.5
    assert saturate(0.6, 0.2) == pytest.approx(0.75)
    assert saturate(math.inf, 0.2) == 1.0


def test_a_crisp_agreeing_cut_scores_near_zero_and_a_confused_one_high():
    crisp = np.zeros((40, 40), np.float32)
    crisp[10:30, 10:30] = 1.0
    assert needs_a_look(crisp, 0.0) == 0.0
    confused = np.full((40, 40), 0.6, np.float32)  # grey everywhere: every subject pixel is soft
    score = needs_a_look(confused, 0.5)
    assert score == pytest.approx(math.sqrt(saturate(1.0, UNCERTAIN_SCALE) * saturate(0.5, DISAGREEMENT_SCALE)))
    assert score > 0.8


def test_both_signs_must_agree_and_without_a_mirrored_pass_uncertainty_decides():
    soft_edge = np.zeros((40, 40), np.float32)
    soft_edge[10:30, 10:30] = 1.0
    soft_edge[8:10, 10:30] = 0.5  # fluffy hair: soft, but the views agree
    assert needs_a_look(soft_edge, 0.0) == 0.0
    assert needs_a_look(soft_edge, None) == pytest.approx(saturate(uncertain_share(soft_edge), UNCERTAIN_SCALE))
    assert needs_a_look(soft_edge, math.nan) == needs_a_look(soft_edge, None)
    assert needs_a_look(np.zeros((8, 8), np.float32), None) == 1.0  # no subject at all
    assert needs_a_look(np.zeros((8, 8), np.float32), math.inf) == 1.0


def test_mirrored_views_that_lose_a_limb_disagree_by_its_share():
    view = np.zeros((20, 20), np.float32)
    view[5:15, 5:15] = 1.0  # 100 px
    mirrored = view.copy()
    mirrored[5:15, 5:7] = 0.0  # one view lost 20 px of it
    share, area = disagreement(view, mirrored)
    assert share == pytest.approx(20 / 90)  # 20 px differ; the views hold 100 and 80 px
    assert area == pytest.approx(100 / 400)  # their mean is 0.5 on the lost strip: still subject
    assert needs_a_look(view, share) == 0.0  # crisp views: the disagreement alone does not flag the photo
    assert needs_a_look((view + mirrored) / 2, share) > 0.5  # the joined matte is grey where they differ
