"""The "needs a look" score: which photos of a batch are most likely cut badly, from what the pipeline already knows.

Two signs, both free (no extra network pass), each measured on both dev sets (`python -m bench.triage`,
bench/results/triage.md):

- **Mirrored-view disagreement**: the share of the subject on which the network's matte of the photo and
  its matte of the mirrored photo (flipped back) disagree at alpha 0.5 (`core.combine.disagreement`; for
  the default combination, the portrait network's, which decides whom to trust). A network that is sure
  of the person sees the same person in the mirror.
- **Uncertain share**: the network output's soft pixels (0.1 < alpha < 0.9) per subject pixel (alpha >= 0.5),
  at network resolution. A confident cut is nearly binary; a confused one is grey over large areas.

Each sign alone flags good cuts too (fluffy hair is soft but right; a thin strand can differ between the
views), so the score is their geometric mean after saturating each to [0, 1) with x / (x + scale): high only
when both agree that something is off. Without a mirrored pass only the uncertain share is used. A photo in
which the network finds no subject scores 1. Other ingredients (several pieces, a small subject, a subject
cut by the frame, band area against outline length) were measured too: each alone correlates less with a bad
cut, and adding them lowered the combined score's correlation (the benchmark's report lists each alone).
"""

from __future__ import annotations

import math

import numpy as np

from core.arrays import as_alpha

__all__ = ["DISAGREEMENT_SCALE", "UNCERTAIN_SCALE", "needs_a_look", "saturate", "uncertain_share"]

#: Where each sign counts half (x / (x + scale) = 0.5), chosen on both dev sets (bench.triage).
DISAGREEMENT_SCALE = 0.1
UNCERTAIN_SCALE = 0.2
#: Network output values strictly between these are soft; at or above SUBJECT they are the subject.
SOFT_LOW, SOFT_HIGH, SUBJECT = 0.1, 0.9, 0.5


def uncertain_share(prediction: np.ndarray) -> float:
    """prediction float32 h×w in [0, 1] → soft pixels (0.1 < p < 0.9) per subject pixel (p >= 0.5); inf if no subject."""
    p = as_alpha(prediction, "prediction")
    subject = np.count_nonzero(p >= SUBJECT)
    if subject == 0:
        return math.inf
    return float(np.count_nonzero((p > SOFT_LOW) & (p < SOFT_HIGH)) / subject)


def saturate(x: float, scale: float) -> float:
    """x >= 0 → x / (x + scale) in [0, 1); inf → 1."""
    if math.isinf(x):
        return 1.0
    return float(x / (x + scale))


def needs_a_look(prediction: np.ndarray, disagreement: float | None) -> float:
    """The score in [0, 1] (higher: more likely a bad cut) of one photo from its network output (float32 h×w in
    [0, 1]) and its mirrored views' disagreement (`core.combine.disagreement`; None without a mirrored pass)."""
    uncertain = saturate(uncertain_share(prediction), UNCERTAIN_SCALE)
    if disagreement is None or math.isnan(disagreement):
        return uncertain
    return math.sqrt(uncertain * saturate(max(float(disagreement), 0.0), DISAGREEMENT_SCALE))
