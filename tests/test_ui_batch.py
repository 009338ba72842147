"""ui.batch: the session's batch folder goes with the session, and the download route serves only its ZIP."""

from __future__ import annotations

import gc
import tempfile
from pathlib import Path

from core.batch import Batch
from ui.batch import ZIP_NAME, BatchSession, download_url, served_file


def test_the_folder_and_its_route_go_when_the_session_is_dropped():
    directory = tempfile.TemporaryDirectory(prefix="portrait-studio-batch-test-")
    session = BatchSession(directory, Batch(Path(directory.name)))
    folder, token = Path(directory.name), session.token
    (folder / ZIP_NAME).write_bytes(b"PK")
    assert served_file(token, ZIP_NAME) == folder / ZIP_NAME
    assert download_url(session) == f"/batch-download/{token}/{ZIP_NAME}"
    assert served_file(token, "../../etc/passwd") is None and served_file("guess", ZIP_NAME) is None
    del session, directory
    gc.collect()
    assert not folder.exists()
    assert served_file(token, ZIP_NAME) is None
