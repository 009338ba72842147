"""The Ray engine of `python -m core batch`: the same jobs and recipe (core.batch_jobs) on Ray Data workers.

Each worker is an actor that builds the recipe's network once and runs `process_job` on one photo at a time,
returning the photo's status row, so the status is recorded by the worker itself. Safe defaults:

- A cluster this command starts listens on 127.0.0.1 only and keeps its files in a temporary folder of its own
  (removed afterwards); `--address` joins an existing cluster instead (started with `ray start`).
- Each worker's network and OpenCV use `threads` CPU threads (OMP_NUM_THREADS, cv2.setNumThreads), and Ray
  reserves that many CPUs for it, so workers do not fight over the cores.
- A worker that dies (killed, out of memory) is restarted and its photo retried at most `max_retries` times; a
  photo that kills its worker on every try is dropped by Ray after the retries (errored blocks are tolerated, so
  the run goes on), and `core.batch_jobs.complete_rows` gives it a "failed" row: nothing goes missing silently.
  A retried photo is written again, whole, under the same name, so every output exists exactly once.

Ray is an optional dependency (requirements-ray.txt); this module is imported only with `--engine ray`.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.errors import PortraitStudioError
from core.batch_jobs import ROW_KEYS, BatchRecipe, EngineError, Job, process_job
from core.storage import Location

__all__ = ["PhotoWorker", "RayOptions", "run_on_ray"]


@dataclass(frozen=True)
class RayOptions:
    """address: an existing cluster (None: start a local one); workers: actors, each with its own network;
    threads: CPU threads per worker (None: the cluster's CPUs / workers); gpus: per worker, fractions allowed;
    max_retries: restarts of a dead worker and retries of its photo."""

    address: str | None = None
    workers: int = 1
    threads: int | None = None
    gpus: float = 0.0
    max_retries: int = 2

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> RayOptions:
        return cls(args.address, args.workers, args.threads_per_worker, args.gpus_per_worker, args.max_retries)


class PhotoWorker:
    """A Ray Data actor: the recipe's network built once, then one status row per photo (never an exception)."""

    def __init__(self, recipe: BatchRecipe, src: Location, dst: Location, threads: int) -> None:
        os.environ["OMP_NUM_THREADS"] = str(threads)  # read when onnxruntime's session is made and torch imported
        import cv2

        cv2.setNumThreads(threads)
        if "torch" in sys.modules:  # imported before: it read the variable already
            sys.modules["torch"].set_num_threads(threads)
        self.recipe, self.src, self.dst = recipe, src, dst
        self.segmenter = recipe.segmenter()

    def __call__(self, batch: dict) -> dict:
        """batch: columns source, target, size (one or more photos) → the status rows as columns (ROW_KEYS)."""
        rows = [
            process_job(Job(str(source), str(target), int(size)), self.recipe, self.src, self.dst, self.segmenter)
            for source, target, size in zip(batch["source"], batch["target"], batch["size"])
        ]
        return {key: [item[key] for item in rows] for key in ROW_KEYS}


def _plain(value):
    """A value from Ray's rows as plain Python (numpy scalars → int/float/str, NaN → None), for the manifest."""
    value = value.item() if hasattr(value, "item") else value
    return None if isinstance(value, float) and value != value else value


def _first_line(exc: BaseException) -> str:
    """The first line of Ray's (often long, multi-line) error message, or the error's type when it has none."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _start(options: RayOptions):
    """Join the cluster at options.address, or start a private local one → (ray module, its temp dir or None)."""
    if not options.address:
        # A cluster started here listens on 127.0.0.1 only (Ray's servers otherwise take every interface). Ray reads
        # the variable when it is imported, and its servers inherit it; if Ray was imported before, the constant
        # it was read into is corrected too.
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")  # no C++ warnings meant for Ray's developers
    token = any(os.environ.get(name) for name in ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")) or (
        Path.home() / ".ray" / "auth_token").exists()
    if options.address and token:
        # A cluster `ray start` made requires its token (Ray 2.60), and a driver sends it only in this mode.
        os.environ.setdefault("RAY_AUTH_MODE", "token")
    import ray
    import ray._private.ray_constants as constants

    if not options.address:
        constants.ENABLE_RAY_CLUSTER = False

    common = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.ERROR,
              "configure_logging": True}
    if options.address:
        # Every machine runs this copy of `core` (the recipe's code), sent by Ray and cached on the cluster;
        # the dependencies must be installed on the machines (pip install '.[ray]' or the container image).
        runtime_env = {"py_modules": [str(Path(__file__).resolve().parent)]}
        try:
            with _quiet_stderr():
                ray.init(address=options.address, runtime_env=runtime_env, **common)
        except Exception as exc:  # noqa: BLE001 - ConnectionError, RpcError, AuthenticationError...
            raise PortraitStudioError(
                f"Cannot join the Ray cluster at {options.address}: {_first_line(exc)}. "
                f"Check that `ray status --address {options.address}` answers from this machine, or leave out "
                f"--address to start a local cluster."
            ) from None
        return ray, None
    # Ray's unix sockets live under its temp dir, and their paths may not pass 107 bytes: keep it short.
    temp = tempfile.mkdtemp(prefix="ps-ray-", dir=None if len(tempfile.gettempdir()) <= 24 else "/tmp")
    with _quiet_stderr():
        ray.init(address="local", _node_ip_address="127.0.0.1", _temp_dir=temp, **common)
    return ray, temp


@contextlib.contextmanager
def _quiet_stderr():
    """Silence what Ray's C++ core prints on file descriptor 2 while it starts (errors still raise)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def run_on_ray(jobs: list[Job], recipe: BatchRecipe, src: Location, dst: Location, options: RayOptions,
               on_row: Callable[[dict], None]) -> None:
    """Every job on Ray Data workers, calling `on_row` with each status row as it arrives (in any order);
    a job whose worker died on every try gets no row (core.batch_jobs.complete_rows fills it in)."""
    if not jobs:
        return
    ray, temp = _start(options)
    try:
        import ray.data

        logging.getLogger("ray.data").setLevel(logging.ERROR)
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        context.print_on_execution_start = False
        context.max_errored_blocks = len(jobs)  # a photo that kills every try is dropped, not the run
        cpus = int(ray.cluster_resources().get("CPU", 1))
        threads = options.threads or max(1, cpus // options.workers)
        if options.workers * threads > cpus:
            raise PortraitStudioError(
                f"{options.workers} workers × {threads} threads need {options.workers * threads} CPUs and the cluster "
                f"has {cpus}: lower --workers or --threads-per-worker."
            )
        items = [{"source": job.source, "target": job.target, "size": job.size} for job in jobs]
        with warnings.catch_warnings():
            # Bounded retries: Ray Data 2.60 takes them only through its deprecated **ray_remote_args (its
            # default, unlimited, loops forever on a photo that kills its worker).
            warnings.simplefilter("ignore", DeprecationWarning)
            rows = _map(ray, items, recipe, src, dst, options, threads)
        try:
            for item in rows.iter_rows():
                on_row({key: _plain(item[key]) for key in ROW_KEYS})
        except Exception as exc:  # noqa: BLE001 - e.g. a worker that cannot load the networks ends the run
            raise EngineError(f"Ray stopped the run: {_first_line(exc)}") from None
    finally:
        ray.shutdown()
        if temp is not None:
            shutil.rmtree(temp, ignore_errors=True)


def _map(ray, items: list[dict], recipe: BatchRecipe, src: Location, dst: Location, options: RayOptions, threads: int):
    """The Ray Data pipeline: one photo per block and per call, on a fixed pool of PhotoWorker actors."""
    return ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
        PhotoWorker,
        fn_constructor_kwargs={"recipe": recipe, "src": src, "dst": dst, "threads": threads},
        # One photo in flight per worker: a photo queued behind one that kills its worker is not lost with it.
        compute=ray.data.ActorPoolStrategy(size=options.workers, max_tasks_in_flight_per_actor=1),
        batch_size=1,
        num_cpus=threads,
        num_gpus=options.gpus,
        max_restarts=-1,  # a dead worker is always replaced (a finite count leaves the pool short, and stalls)
        max_task_retries=options.max_retries,
    )

