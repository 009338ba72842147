"""Shared fixtures: paths to the bundled weights and to the read-only data beside the checkout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
DEV_SET = SHARED / "data" / "dev" / "eg1800_train_subset"
PHOTOS = SHARED / "data" / "photos"
BUNDLED_ONNX = ROOT / "core" / "bundled_weights" / "u2netp.onnx"


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """scikit-image's public-domain NASA astronaut portrait, uint8 512x512x3."""
    from skimage import data

    return data.astronaut()


@pytest.fixture(scope="session")
def segmenter():
    """The shared CPU segmenter on the bundled u2netp weights."""
    from core.segmentation import get_segmenter

    return get_segmenter("u2netp", "cpu", allow_download=False)


@pytest.fixture(scope="session")
def default_segmenter():
    """The shared CPU segmenter of the default model (the combination of the bundled MODNet and u2netp)."""
    from core.segmentation import get_segmenter
    from core.weights import DEFAULT_MODEL

    return get_segmenter(DEFAULT_MODEL, "cpu", allow_download=False)


@pytest.fixture
def dev_set() -> Path:
    """The hand-labelled dev portraits, or a skip saying why they are absent."""
    if not (DEV_SET / "images").is_dir():
        pytest.skip(f"dev set not found at {DEV_SET} (it lives in ../shared beside the checkout)")
    return DEV_SET


@pytest.fixture
def media(monkeypatch):
    """Keeps the pictures and downloads AppTest pages produce (AppTest normally discards them)."""
    import streamlit.testing.v1.app_test as app_test_module

    from tests.app_support import MediaRecorder

    recorder = MediaRecorder()
    base = app_test_module.MediaFileManager

    class RecordingMediaFileManager(base):
        def __init__(self, storage) -> None:
            super().__init__(recorder.storage)
            recorder.managers.append(self)

    monkeypatch.setattr(app_test_module, "MediaFileManager", RecordingMediaFileManager)
    return recorder
