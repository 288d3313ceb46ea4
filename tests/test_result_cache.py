"""data.result_cache: bundles (several frames + a JSON meta) beside single frames, from memory
and from disk, old data versions dropped, writes whole or not at all."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from data.result_cache import Bundle, ResultCache

STORE, OTHER = "a" * 16, "b" * 16


def _key(store: str, version: str, parts: str = "p" * 24) -> str:
    return f"{store}-{version}-{parts}"


@pytest.fixture
def cache(tmp_path, monkeypatch) -> ResultCache:
    monkeypatch.setenv("DAIHOU_CACHE_DIR", str(tmp_path / "cache"))
    return ResultCache("test", version=1, max_memory=2)


def _bundle() -> Bundle:
    customers = pd.DataFrame({"customer_id": ["C1", "C2"], "clv": [1234.5678901234567, float("nan")],
                              "loans": pd.array([2, 1], dtype="int64"), "segment": [0, 1]})
    profiles = pd.DataFrame({"segment": [0, 1], "segment_name": ["高价值", "watch"], "customers": [1, 1]})
    return Bundle({"customers": customers, "profiles": profiles},
                  {"k": 2, "silhouette": {2: 0.123456789012345, 3: 0.1}, "pd_source": "model"})


def test_bundle_from_memory_and_from_disk_are_the_same(cache):
    b = _bundle()
    key = _key(STORE, "v1")
    cache.put_bundle(STORE, key, b)
    mem = cache.get_bundle(key)
    cache.clear_memory()
    disk = cache.get_bundle(key)
    # the meta as JSON gives it, from memory as from disk; floats exact
    want_meta = {"k": 2, "silhouette": {"2": 0.123456789012345, "3": 0.1}, "pd_source": "model"}
    for got in (mem, disk):
        assert list(got.frames) == ["customers", "profiles"] and got.meta == want_meta
        for name in ("customers", "profiles"):
            assert_frame_equal(got.frames[name], b.frames[name])
    # callers get copies: changing one does not change the entry
    disk.frames["customers"].loc[:, "clv"] = 0.0
    disk.meta["k"] = 9
    again = cache.get_bundle(key)
    assert again.meta["k"] == 2 and again.frames["customers"]["clv"].iloc[0] == 1234.5678901234567
    entry = cache.directory() / key
    assert sorted(p.name for p in entry.iterdir()) == ["bundle.json", "customers.parquet", "profiles.parquet"]
    assert json.loads((entry / "bundle.json").read_text())["frames"] == ["customers", "profiles"]


def test_frames_and_bundles_do_not_answer_for_each_other(cache):
    fkey, bkey = _key(STORE, "v1", "f" * 24), _key(STORE, "v1", "b" * 24)
    cache.put(STORE, fkey, pd.DataFrame({"x": [1.5]}))
    cache.put_bundle(STORE, bkey, _bundle())
    assert cache.get_bundle(fkey) is None and cache.get(bkey) is None
    cache.clear_memory()
    assert cache.get_bundle(fkey) is None and cache.get(bkey) is None
    assert cache.get(fkey)["x"].tolist() == [1.5] and cache.get_bundle(bkey).meta["k"] == 2


def test_a_new_data_version_drops_the_stores_older_entries_only(cache):
    folder = cache.directory()
    cache.put(STORE, _key(STORE, "v1", "f" * 24), pd.DataFrame({"x": [1]}))
    cache.put_bundle(STORE, _key(STORE, "v1"), _bundle())
    cache.put_bundle(OTHER, _key(OTHER, "v1"), _bundle())
    (folder / f"{STORE}-7-{'c' * 24}.json").write_text("{}")  # the customer cache's former layout
    (folder / f"{STORE}-7-{'c' * 24}.customers.parquet").write_bytes(b"")
    cache.put_bundle(STORE, _key(STORE, "v2"), _bundle())
    cache.put_bundle(STORE, _key(STORE, "v2", "q" * 24), _bundle())
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [_key(OTHER, "v1"), _key(STORE, "v2"), _key(STORE, "v2", "q" * 24)])
    cache.clear_memory()
    assert cache.get_bundle(_key(STORE, "v1")) is None and cache.get_bundle(_key(OTHER, "v1")) is not None


def test_an_entry_another_process_wrote_stays(cache):
    key = _key(STORE, "v1")
    cache.put_bundle(STORE, key, _bundle())
    other = _bundle()
    other.meta["pd_source"] = "written twice"
    ResultCache("test", version=1).put_bundle(STORE, key, other)  # a second process, same key
    assert [p.name for p in cache.directory().iterdir()] == [key]  # no temporary folder left
    cache.clear_memory()
    assert cache.get_bundle(key).meta["pd_source"] == "model"


def test_a_damaged_bundle_is_computed_again(cache):
    key = _key(STORE, "v1")
    cache.put_bundle(STORE, key, _bundle())
    cache.clear_memory()
    (cache.directory() / key / "profiles.parquet").write_bytes(b"not parquet")
    assert cache.get_bundle(key) is None
    (cache.directory() / key / "bundle.json").write_text("{")
    assert cache.get_bundle(key) is None
    (cache.directory() / key / "bundle.json").unlink()
    assert cache.get_bundle(key) is None


def test_bad_names_and_meta_are_refused_before_anything_is_kept(cache):
    key = _key(STORE, "v1")
    with pytest.raises(ValueError, match="frame names"):
        cache.put_bundle(STORE, key, Bundle({"../x": pd.DataFrame({"x": [1]})}))
    with pytest.raises(TypeError):
        cache.put_bundle(STORE, key, Bundle({"x": pd.DataFrame({"x": [1]})}, {"when": object()}))
    assert cache.get_bundle(key) is None and not cache.directory().exists()


def test_memory_keeps_the_latest_entries(cache, monkeypatch):
    keys = [_key(STORE, "v1", str(i) * 24) for i in range(3)]
    for k in keys:
        cache.put_bundle(STORE, k, _bundle())
    monkeypatch.setenv("DAIHOU_CACHE_DIR", str(cache.directory().parent / "elsewhere"))  # disk out of reach
    assert cache.get_bundle(keys[0]) is None  # max_memory 2: the oldest was let go
    assert cache.get_bundle(keys[1]) is not None and cache.get_bundle(keys[2]) is not None
