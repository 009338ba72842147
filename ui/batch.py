"""The Batch page's session state: a `core.batch.Batch` in a per-session temporary folder, and the ZIP route.

The folder is a `tempfile.TemporaryDirectory` held in the session's state: when Streamlit drops the session
(its browser tab closed and the session expired) the object is collected and the folder deleted, and the
server's exit deletes what is left. The "Download all" ZIP is written into that folder and served from disk
by `app.py`'s route (`/batch-download/<token>/<file>`, a random token per session), so a ZIP of any size is
streamed, never held in memory; `app.py` registers the route by setting ROUTE_SERVED.
"""

from __future__ import annotations

import secrets
import tempfile
import threading
import weakref
from dataclasses import dataclass, field
from pathlib import Path

import streamlit as st

from core.batch import Batch

BATCH = "batch"
ZIP_NAME = "portrait-studio-batch.zip"
ROUTE = "/batch-download"
#: Set by app.py when it serves ROUTE; without it (`streamlit run Home.py`) the ZIP goes through a download button.
ROUTE_SERVED = False

_folders: dict[str, Path] = {}  # token → a session's batch folder (served files live there)
_lock = threading.Lock()


@dataclass
class BatchSession:
    """One session's batch: its folder, whether it is running, and the token of its download route."""

    directory: tempfile.TemporaryDirectory
    batch: Batch
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    running: bool = False
    started: float = 0.0
    done_at_start: int = 0
    #: Held while a script run works through the queue. Streamlit starts a new run at once when the user clicks
    #: (the old one stops at its next Streamlit call, after its photo): the new run waits here for it.
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        with _lock:
            _folders[self.token] = self.batch.folder
        weakref.finalize(self, _forget, self.token)


def _forget(token: str) -> None:
    with _lock:
        _folders.pop(token, None)


def batch_session() -> BatchSession:
    """This session's batch, created (with its temporary folder) on first use."""
    if BATCH not in st.session_state:
        directory = tempfile.TemporaryDirectory(prefix="portrait-studio-batch-")
        st.session_state[BATCH] = BatchSession(directory, Batch(Path(directory.name)))
    return st.session_state[BATCH]


def served_file(token: str, name: str) -> Path | None:
    """The file a download URL names, if it is a session's ZIP that exists (nothing else is ever served)."""
    if name != ZIP_NAME:
        return None
    with _lock:
        folder = _folders.get(token)
    path = folder / ZIP_NAME if folder is not None else None
    return path if path is not None and path.is_file() else None


def download_url(session: BatchSession) -> str:
    return f"{ROUTE}/{session.token}/{ZIP_NAME}"
