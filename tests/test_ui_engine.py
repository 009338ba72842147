"""The dashboard's shared cache is bounded in bytes, not entries (issue 11)."""

from __future__ import annotations

import numpy as np

from core.imageio import DecodedImage
from ui.engine import DEFAULT_CACHE_MB, LRUCache, cache_budget_bytes, nbytes_of


def _array(kb: int) -> np.ndarray:
    return np.zeros(kb * 1024, np.uint8)


def test_nbytes_of_counts_arrays_inside_containers_and_dataclasses():
    decoded = DecodedImage(rgb=np.zeros((10, 20, 3), np.uint8), alpha=np.zeros((10, 20), np.float32), format="PNG")
    assert nbytes_of(decoded) == 600 + 800
    assert nbytes_of((decoded, 0.5, {"a": _array(1), "b": [b"xyz"]})) == 1400 + 1024 + 3
    assert nbytes_of("text") == 0


def test_least_recently_used_entries_go_when_the_bytes_overflow():
    cache = LRUCache(max_bytes=100 * 1024, max_entry_share=0.5)
    for key in "abc":
        cache.get_or_create(key, lambda: _array(30))
    assert cache.total_bytes == 90 * 1024
    cache.get_or_create("a", lambda: _array(99))  # a hit: 'a' becomes the most recent, nothing computed
    cache.get_or_create("d", lambda: _array(40))  # 130 kB: 'b' (least recent) goes, then 100 kB fit
    assert list(cache._items) == ["c", "a", "d"] and cache.total_bytes == 100 * 1024
    value, computed = cache.get_or_create("b", lambda: _array(1))
    assert computed and value.nbytes == 1024


def test_an_entry_larger_than_its_share_is_returned_but_not_kept():
    cache = LRUCache(max_bytes=100 * 1024, max_entry_share=0.25)
    cache.get_or_create("small", lambda: _array(10))
    value, computed = cache.get_or_create("huge", lambda: _array(26))
    assert computed and value.nbytes == 26 * 1024
    assert list(cache._items) == ["small"] and cache.total_bytes == 10 * 1024
    assert cache.get_or_create("huge", lambda: _array(26))[1]  # computed again: it was not kept


def test_the_budget_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("PORTRAIT_STUDIO_CACHE_MB", "200")
    assert cache_budget_bytes() == 200 * 2**20
    for bad in ("lots", "nan", ""):
        monkeypatch.setenv("PORTRAIT_STUDIO_CACHE_MB", bad)
        assert cache_budget_bytes() == int(DEFAULT_CACHE_MB * 2**20)


def test_freed_memory_goes_back_once_per_idle_spell_not_while_photos_keep_coming(monkeypatch):
    import ui.engine

    calls = []
    monkeypatch.setattr(ui.engine, "release_free_memory", lambda: calls.append(True))
    idle = ui.engine.IDLE_BEFORE_TRIM_S
    trimmed = ui.engine.trim_when_idle(100.0, None, 100.0 + idle - 0.1)  # used moments ago: keep it for the next run
    assert calls == [] and trimmed is None
    trimmed = ui.engine.trim_when_idle(100.0, trimmed, 100.0 + idle)  # left alone long enough: give it back
    assert calls == [True] and trimmed == 100.0
    trimmed = ui.engine.trim_when_idle(100.0, trimmed, 100.0 + 10 * idle)  # still idle: nothing new to give back
    assert calls == [True] and trimmed == 100.0
    trimmed = ui.engine.trim_when_idle(500.0, trimmed, 500.0 + idle)  # used again, then idle again
    assert calls == [True, True] and trimmed == 500.0


def test_the_cache_notes_when_it_was_last_asked(monkeypatch):
    cache = LRUCache(1 << 20)
    monkeypatch.setattr("ui.engine.time.monotonic", lambda: 42.0)
    cache.get_or_create("k", lambda: np.zeros(4))
    assert cache.last_used == 42.0
