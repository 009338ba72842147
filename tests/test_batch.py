"""core.batch: uploads (ZIPs too) stored on disk, one photo at a time through the recipe, a ZIP streamed from disk."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from core.batch import Batch, Recipe
from core.composite import Background, mask_image
from core.errors import PortraitStudioError
from core.finishing import FinishSettings
from core.pipeline import process
from core.refine import RefineSettings


def _jpeg(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buf.getvalue()


@pytest.fixture
def photos(astronaut):
    return [_jpeg(np.roll(astronaut, 60 * i, axis=1)) for i in range(3)]


def test_uploads_and_zips_become_items_with_distinct_names_and_reasons(tmp_path, photos):
    batch = Batch(tmp_path / "b")
    archive = _zip({"shoot/a.jpg": photos[1], "shoot/notes.txt": b"x", "__MACOSX/._a.jpg": b"junk", "b.png": b"broken"})
    items = batch.add_uploads([("a.jpg", photos[0]), ("archive.zip", archive), ("bad.zip", b"not a zip"), ("x.docx", b"?")])
    assert [i.name for i in items] == ["a.jpg", "archive.zip/shoot/a.jpg", "archive.zip/shoot/notes.txt",
                                       "archive.zip/b.png", "bad.zip", "x.docx"]
    assert [i.status for i in items] == ["pending", "pending", "failed", "pending", "failed", "failed"]
    assert len({i.stem for i in items}) == len(items)  # a.jpg twice: distinct output names
    assert items[0].source.read_bytes() == photos[0] and items[1].source.read_bytes() == photos[1]
    assert "not a photo" in items[2].error and "not a readable ZIP" in items[4].error


def test_each_photo_is_processed_with_the_recipe_and_a_broken_one_does_not_stop_the_batch(tmp_path, photos, default_segmenter):
    batch = Batch(tmp_path / "b")
    batch.add_uploads([("p0.jpg", photos[0]), ("broken.jpg", b"\xff\xd8 not really"), ("p2.jpg", photos[2])])
    recipe = Recipe(RefineSettings(), FinishSettings(), Background(kind="color", color=(0, 0, 255)))
    done = []
    while (item := batch.process_next(default_segmenter, recipe)) is not None:
        done.append(item)
    assert [i.status for i in done] == ["done", "failed", "done"]
    assert done[1].error and done[1].outputs == {}
    first = done[0]
    expected = process(photos[0], default_segmenter, kind="composite", settings=RefineSettings(),
                       background=Background(kind="color", color=(0, 0, 255)), finishing=FinishSettings())
    assert first.outputs["result"].read_bytes() == expected.encoded  # the recipe, exactly
    assert np.array_equal(np.asarray(Image.open(first.outputs["mask"])), mask_image(expected.alpha))
    assert Image.open(first.outputs["cutout"]).mode == "RGBA"
    assert max(Image.open(first.thumbnails["result"]).size) == 256
    assert 0 <= first.needs_a_look <= 1
    assert [i.status for i in batch.worst_first()][0] == "failed"


def test_the_zip_holds_the_chosen_kinds_named_after_the_inputs(tmp_path, photos, default_segmenter):
    batch = Batch(tmp_path / "b")
    batch.add_uploads([("portrait one.jpg", photos[0]), ("two.jpg", photos[1])])
    recipe = Recipe(RefineSettings(), FinishSettings(), Background(kind="transparent"))
    while batch.process_next(default_segmenter, recipe):
        pass
    path = batch.write_zip(["mask", "result"])
    with zipfile.ZipFile(path) as archive:
        names = sorted(archive.namelist())
        assert names == ["masks/portrait one-mask.png", "masks/two-mask.png",
                         "results/portrait one-result.png", "results/two-result.png"]
        assert archive.read("masks/two-mask.png") == batch.items[1].outputs["mask"].read_bytes()
    with pytest.raises(PortraitStudioError, match="at least one"):
        batch.write_zip([])


def test_a_batch_of_id_photos_frames_every_output_and_names_a_photo_without_a_face(tmp_path, astronaut, default_segmenter):
    from core.framing import FrameSettings
    from core.shadow import ShadowSettings

    batch = Batch(tmp_path / "b")
    upside_down = np.ascontiguousarray(astronaut[::-1])  # a person, but no face the detector can read
    batch.add_uploads([("a.jpg", _jpeg(astronaut)), ("upside-down.jpg", _jpeg(upside_down))])
    frame = FrameSettings(id_photo="passport-35x45")
    recipe = Recipe(RefineSettings(), FinishSettings(), Background(kind="color", color=(238, 238, 238)),
                    frame=frame, shadow=ShadowSettings())
    done = [batch.process_next(default_segmenter, recipe), batch.process_next(default_segmenter, recipe)]
    assert [i.status for i in done] == ["done", "failed"] and "No face found" in done[1].error
    for kind in ("result", "cutout", "mask"):
        with Image.open(done[0].outputs[kind]) as img:
            assert img.size == (413, 531) and img.info["dpi"] == pytest.approx((300, 300), abs=0.01), kind
