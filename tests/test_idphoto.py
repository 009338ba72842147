"""core.idphoto and the ID presets: placement by the face, the checks in words, the print sheet; real-model tests on
the astronaut through the command line."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from core.faces import Face, detect_faces
from core.framing import subject_box
from core.id_presets import ID_PRESETS
from core.idphoto import GUIDE_GREY, IdPhotoError, crown_y, id_layout, pixels_per_unit, print_sheet
from tests.cli_support import cli


def face(box=(10.0, 20.0, 30.0, 50.0)) -> Face:
    return Face(score=0.9, box=box, right_eye=(15.0, 30.0), left_eye=(25.0, 30.0), nose=(20.0, 36.0),
                mouth=(20.0, 42.0), chin_y=50.0)


@pytest.fixture
def photo(tmp_path, astronaut):
    path = tmp_path / "astronaut.png"
    Image.fromarray(astronaut).save(path)
    return path


def read(path) -> tuple[np.ndarray, tuple[float, float] | None]:
    with Image.open(path) as img:
        return np.asarray(img), img.info.get("dpi")


# --- the table and small exact pieces --------------------------------------------------------------


def test_every_preset_names_its_source_and_a_light_background():
    for preset in ID_PRESETS.values():
        assert preset.source and min(preset.background) >= 230
        assert preset.head[0] < preset.head_target < preset.head[1]
        assert (preset.crown_gap is None) != (preset.eyes is None)
    assert ID_PRESETS["passport-35x45"].size_text == "35x45mm" and ID_PRESETS["us-2x2"].size_text == "2x2in"


def test_pixels_per_unit():
    assert pixels_per_unit(ID_PRESETS["passport-35x45"], 254) == 10.0
    assert pixels_per_unit(ID_PRESETS["us-2x2"], 300) == 300.0
    assert pixels_per_unit(ID_PRESETS["profile-1x1"], 300) == 1.0


def test_crown_is_the_first_opaque_row_over_the_face():
    alpha = np.zeros((60, 40), np.float32)
    alpha[12, 5] = 1.0  # outside the face's columns (10..30): a raised hand does not count
    alpha[15, 20] = 0.4  # faint hair
    alpha[16:, 12:28] = 0.8
    assert crown_y(alpha, face()) == 16.0
    assert crown_y(np.zeros((60, 40), np.float32), face()) is None


def test_print_sheet_tiles_the_photo_with_cut_guides():
    photo = np.full((531, 413, 3), 120, np.uint8)  # 35x45 mm at 300 DPI
    sheet = print_sheet(photo, ID_PRESETS["passport-35x45"])
    assert sheet.shape == (1200, 1800, 3)  # 4x6 in landscape: 4 x 2 photos beat 2 x 3 upright
    photos = (sheet == 120).all(axis=2)
    assert photos.sum() == 8 * 531 * 413
    # 24 px (2 mm) apart, centred: columns start at (1800 - 4 * 413 - 3 * 24) / 2 = 38
    cols = np.flatnonzero(photos[300])
    assert cols[0] == 38 and cols[-1] == 38 + 4 * 413 + 3 * 24 - 1
    rows = np.flatnonzero(photos[:, 100])
    assert rows[0] == (1200 - 2 * 531 - 24) // 2
    assert (sheet[0, 37] == GUIDE_GREY).all() and (sheet[0, 38 + 413] == GUIDE_GREY).all()  # guides reach the border
    assert (sheet[0, 30] == 255).all()
    with pytest.raises(IdPhotoError, match="does not fit"):
        print_sheet(np.zeros((1300, 1300, 3), np.uint8), ID_PRESETS["passport-35x45"])


def test_a_photo_without_a_face_says_so():
    image = np.full((300, 200, 3), 128, np.uint8)
    alpha = np.zeros((300, 200), np.float32)
    alpha[50:, 50:150] = 1
    with pytest.raises(IdPhotoError, match="No face found.*one person looking at the camera"):
        id_layout(image, alpha, ID_PRESETS["passport-35x45"], 300)


# --- real model: the astronaut ---------------------------------------------------------------------


def head_height_mm(result: np.ndarray, mask: np.ndarray, dpi: float) -> float:
    """Chin (detected on the result) to crown (the result's matte), in mm."""
    faces = detect_faces(result[..., :3])
    assert len(faces) == 1
    crown = crown_y(mask.astype(np.float32) / 255, faces[0])
    return (faces[0].chin_y - crown) / dpi * 25.4


@pytest.mark.parametrize("dpi, size", [(300, (531, 413)), (350, (620, 482))])
def test_astronaut_passport_photo(photo, tmp_path, dpi, size):
    options = ("--id-photo", "passport-35x45", "--dpi", dpi)
    status, out, err = cli("replace", photo, "-o", tmp_path / "id.png", *options)
    assert status == 0, err
    assert "enlarged" in out  # the 512-px photo's head is about 160 px: it says so
    assert cli("mask", photo, "-o", tmp_path / "mask.png", *options)[0] == 0
    result, written_dpi = read(tmp_path / "id.png")
    mask, _ = read(tmp_path / "mask.png")
    assert result.shape[:2] == mask.shape == size  # 35x45 mm at the DPI
    assert written_dpi == pytest.approx((dpi, dpi), abs=0.02)  # PNG stores whole pixels per metre
    assert 32 <= head_height_mm(result, mask, dpi) <= 36
    corners = np.concatenate([result[:20, :20].reshape(-1, 3), result[:20, -20:].reshape(-1, 3)])
    assert (corners == ID_PRESETS["passport-35x45"].background).all()  # plain light grey, by default
    assert subject_box(mask.astype(np.float32) / 255).bottom == size[0]  # the shoulders reach the bottom edge


def test_astronaut_us_visa_photo_puts_the_eyes_in_their_band(photo, tmp_path):
    status, _, err = cli("replace", photo, "-o", tmp_path / "us.jpg", "--id-photo", "us-2x2")
    assert status == 0, err
    assert cli("mask", photo, "-o", tmp_path / "mask.png", "--id-photo", "us-2x2")[0] == 0
    result, dpi = read(tmp_path / "us.jpg")
    mask, _ = read(tmp_path / "mask.png")
    assert result.shape[:2] == (600, 600) and dpi == (300, 300)
    head = head_height_mm(result, mask, 300) / 25.4
    assert 1.0 <= head <= 1.375
    eyes_from_bottom = (600 - detect_faces(result)[0].eyes_center[1]) / 300
    assert 1.125 <= eyes_from_bottom <= 1.375
    assert result[:10, :10].min() >= 250  # white


def test_a_small_head_at_a_high_dpi_is_refused_in_words(photo, tmp_path):
    status, _, err = cli("replace", photo, "-o", tmp_path / "id.png", "--id-photo", "passport-35x45", "--dpi", "600")
    assert status == 1 and not (tmp_path / "id.png").exists()
    assert re.search(r"The head is 16\d px tall.*lower DPI \(at 300 DPI it needs 134 px\)", err)


def test_a_photo_with_no_face_is_refused_in_words(tmp_path, astronaut):
    back = np.ascontiguousarray(astronaut[::-1])  # upside down: a person, but no face the detector can read
    Image.fromarray(back).save(tmp_path / "back.png")
    status, _, err = cli("replace", tmp_path / "back.png", "-o", tmp_path / "id.png", "--id-photo", "passport-35x45")
    assert status == 1 and "No face found" in err and not (tmp_path / "id.png").exists()


def test_two_people_and_a_cut_crown_are_refused_in_words(tmp_path, astronaut):
    Image.fromarray(np.concatenate([astronaut, astronaut], axis=1)).save(tmp_path / "two.png")
    status, _, err = cli("replace", tmp_path / "two.png", "-o", tmp_path / "a.png", "--id-photo", "passport-35x45")
    assert status == 1 and "Found 2 faces" in err
    Image.fromarray(np.ascontiguousarray(astronaut[40:])).save(tmp_path / "cut.png")
    status, _, err = cli("replace", tmp_path / "cut.png", "-o", tmp_path / "b.png", "--id-photo", "passport-35x45")
    assert status == 1 and "top of the head is cut" in err


def test_print_sheet_of_the_astronaut(photo, tmp_path):
    status, _, err = cli("replace", photo, "-o", tmp_path / "sheet.png", "--id-photo", "passport-35x45", "--print-sheet")
    assert status == 0, err
    sheet, dpi = read(tmp_path / "sheet.png")
    assert sheet.shape == (1200, 1800, 3) and dpi == pytest.approx((300, 300), abs=0.01)
    assert len(detect_faces(sheet)) == 8
    status, _, err = cli("cutout", photo, "-o", tmp_path / "c.png", "--id-photo", "passport-35x45", "--print-sheet")
    assert status == 2 and "--print-sheet" in err


def test_a_side_the_photo_cuts_inside_the_frame_is_noted(tmp_path, astronaut):
    Image.fromarray(np.ascontiguousarray(astronaut[:, 150:])).save(tmp_path / "narrow.png")  # the suit cut on the left
    status, out, err = cli("replace", tmp_path / "narrow.png", "-o", tmp_path / "id.png", "--id-photo", "passport-35x45")
    assert status == 0, err
    assert re.search(r"the photo ends \d+\.\d mm inside the frame's left edge, where the subject is cut", out)
    assert "right edge" not in out
