"""The on-disk engine cache: keys, hits across processes, misses on change, safety, eviction."""

from __future__ import annotations

import json
import logging
import os
import pathlib
import subprocess
import sys
import textwrap
from typing import Any

import pytest
import torch

import torch_trt
from torch_trt import _files, cache, cache_key
from torch_trt.settings import CompileSettings

# Two engines: sigmoid is kept in PyTorch between them.
_SCRIPT = textwrap.dedent(
    """
    import hashlib, json, sys, torch, torch_trt

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Sigmoid(),
        torch.nn.Linear(16, 4), torch.nn.ReLU(),
    ).eval()
    compiled = torch_trt.dynamo.compile(
        model, [torch.randn(2, 8)], min_block_size=1,
        torch_executed_ops=["aten.sigmoid"], cache_dir=sys.argv[1],
    )
    rep = torch_trt.report(compiled)
    engines = {n: hashlib.sha256(b.numpy().tobytes()).hexdigest()
               for n, b in compiled.named_buffers() if n.endswith("_engine")}
    print(json.dumps({"cache": [e.cache for e in rep.engine_info], "engines": engines,
                      "keys": [e.cache_key for e in rep.engine_info]}))
    """
)


def _run(script: pathlib.Path, cache_dir: pathlib.Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen(
        [sys.executable, str(script), str(cache_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _result(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


@pytest.fixture
def script(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "compile_model.py"
    path.write_text(_SCRIPT)
    return path


def test_fresh_process_hits_every_engine_byte_identical(
    script: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    """A second compile in a new process hits for every engine and gets the same bytes."""
    first = _result(_run(script, tmp_path / "c"))
    second = _result(_run(script, tmp_path / "c"))
    assert first["cache"] == ["miss", "miss"]
    assert second["cache"] == ["hit", "hit"]
    assert len(first["engines"]) == 2 and second["engines"] == first["engines"]
    assert second["keys"] == first["keys"]


def test_two_processes_at_once_leave_one_valid_entry_per_engine(
    script: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    """Two processes compiling together both succeed; each engine has one valid entry."""
    root = tmp_path / "c"
    procs = [_run(script, root), _run(script, root)]
    a, b = (_result(p) for p in procs)
    assert a["engines"] == b["engines"]
    entries = sorted(p.stem for p in (root / "engines").iterdir())
    assert entries == sorted(a["keys"])
    store = cache.EngineCache(root, 1 << 30)
    assert all(store.get(k) is not None for k in entries)
    assert not list((root / "engines").glob(".tmp-*"))


class _Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.fc(x)) * 2.0


def _status(model: torch.nn.Module, inputs: list[Any], root: pathlib.Path, **kw: Any) -> str:
    compiled = torch_trt.dynamo.compile(model, inputs, min_block_size=1, cache_dir=root, **kw)
    (info,) = torch_trt.report(compiled).engine_info
    return info.cache


def test_changes_that_alter_the_engine_miss(tmp_path: pathlib.Path) -> None:
    """One weight, an input range, the dtype or an engine setting changes the key."""
    model, x = _Net().eval(), torch.randn(2, 8)
    assert _status(model, [x], tmp_path) == "miss"
    assert _status(model, [x], tmp_path) == "hit"
    assert _status(model, [x], tmp_path, runtime="reference", debug=True) == "hit"
    with torch.no_grad():
        model.fc.weight[3, 5] += 1e-3
    assert _status(model, [x], tmp_path) == "miss"
    ranged = torch_trt.Input(min_shape=(1, 8), opt_shape=(2, 8), max_shape=(4, 8))
    wider = torch_trt.Input(min_shape=(1, 8), opt_shape=(2, 8), max_shape=(8, 8))
    assert _status(model, [ranged], tmp_path) == "miss"
    assert _status(model, [wider], tmp_path) == "miss"
    assert _status(model, [ranged], tmp_path) == "hit"
    assert _status(model, [x], tmp_path, workspace_size=1 << 28) == "miss"
    assert _status(model, [x], tmp_path, optimization_level=2) == "miss"
    assert _status(model.half(), [x.half()], tmp_path) == "miss"


def test_node_names_do_not_enter_the_key(tmp_path: pathlib.Path) -> None:
    """The same computation with other node and attribute names hits."""

    class Renamed(torch.nn.Module):
        def __init__(self, fc: torch.nn.Linear) -> None:
            super().__init__()
            self.other_name = fc

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.other_name(x)
            return torch.relu(y) * 2.0

    model, x = _Net().eval(), torch.randn(2, 8)
    assert _status(model, [x], tmp_path) == "miss"
    assert _status(Renamed(model.fc).eval(), [x], tmp_path) == "hit"


def test_truncated_entry_is_rebuilt_with_a_warning(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A truncated entry is never loaded: a warning, a rebuild, and a valid entry again."""
    model, x = _Net().eval(), torch.randn(2, 8)
    assert _status(model, [x], tmp_path) == "miss"
    (entry,) = (tmp_path / "engines").glob("*.engine")
    entry.write_bytes(entry.read_bytes()[:-100])
    with caplog.at_level(logging.WARNING, logger="torch_trt"):
        assert _status(model, [x], tmp_path) == "miss"
    assert any("is damaged (truncated" in r.getMessage() for r in caplog.records)
    assert cache.EngineCache(tmp_path, 1 << 30).get(entry.stem) is not None
    assert _status(model, [x], tmp_path) == "hit"


def test_corrupt_byte_fails_the_checksum(tmp_path: pathlib.Path) -> None:
    """One flipped engine byte makes the entry a miss, not a load."""
    store = cache.EngineCache(tmp_path, 1 << 20)
    store.put("ab" * 32, b"x" * 1000, 1.0)
    data = bytearray(store.path("ab" * 32).read_bytes())
    data[-10] ^= 0xFF
    store.path("ab" * 32).write_bytes(bytes(data))
    assert store.get("ab" * 32) is None and not store.path("ab" * 32).exists()


def test_size_limit_evicts_least_recently_used(tmp_path: pathlib.Path) -> None:
    """Past the size limit the entry used longest ago goes; a hit counts as a use."""
    store = cache.EngineCache(tmp_path, 3000)  # two entries of ~1.3 KB fit
    a, b, c = ("a" * 64), ("b" * 64), ("c" * 64)
    store.put(a, b"1" * 1000, 1.0)
    store.put(b, b"2" * 1000, 1.0)
    os.utime(store.path(a), ns=(10**18, 10**18))
    os.utime(store.path(b), ns=(15 * 10**17, 15 * 10**17))  # both in the past
    assert store.get(a) is not None  # now the most recently used
    store.put(c, b"3" * 1000, 1.0)
    assert store.get(b) is None
    assert store.get(a) is not None and store.get(c) is not None
    assert store.size_bytes() <= 3000


def test_entry_larger_than_the_limit_is_not_stored(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An engine bigger than cache_max_bytes is built but not stored, with a warning."""
    store = cache.EngineCache(tmp_path, 500)
    with caplog.at_level(logging.WARNING, logger="torch_trt"):
        store.put("d" * 64, b"4" * 1000, 1.0)
    assert store.get("d" * 64) is None
    assert any("exceeds cache_max_bytes=500" in r.getMessage() for r in caplog.records)


def test_cache_dir_precedence(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """cache_dir wins over TORCH_TRT_CACHE_DIR, which applies when cache_dir is None."""
    monkeypatch.delenv(cache.ENV_VAR, raising=False)
    assert cache.resolve_dir(CompileSettings()) is None
    monkeypatch.setenv(cache.ENV_VAR, str(tmp_path / "env"))
    assert cache.resolve_dir(CompileSettings()) == tmp_path / "env"
    assert cache.resolve_dir(CompileSettings(cache_dir=tmp_path / "x")) == tmp_path / "x"
    assert cache.resolve_dir(CompileSettings(cache_dir=False)) is None


def test_env_var_enables_the_cache(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With only TORCH_TRT_CACHE_DIR set, compiles use it; cache_dir=False opts out."""
    monkeypatch.setenv(cache.ENV_VAR, str(tmp_path))
    model, x = _Net().eval(), torch.randn(2, 8)
    compiled = torch_trt.dynamo.compile(model, [x], min_block_size=1)
    assert torch_trt.report(compiled).engine_info[0].cache == "miss"
    off = torch_trt.dynamo.compile(model, [x], min_block_size=1, cache_dir=False)
    assert torch_trt.report(off).engine_info[0].cache == "off"
    assert len(list((tmp_path / "engines").glob("*.engine"))) == 1


def test_report_shows_hits_and_time_saved(tmp_path: pathlib.Path) -> None:
    """The report table and summary show the cache outcome per engine and the time saved."""
    model, x = _Net().eval(), torch.randn(2, 8)
    torch_trt.dynamo.compile(model, [x], min_block_size=1, cache_dir=tmp_path)
    rep = torch_trt.report(
        torch_trt.dynamo.compile(model, [x], min_block_size=1, cache_dir=tmp_path)
    )
    (info,) = rep.engine_info
    assert info.cache == "hit" and info.saved_seconds >= 0.0 and len(info.cache_key) == 64
    assert "engine cache 1/1 hits" in rep.summary() and " hit " in str(rep)
    data = json.loads(rep.to_json())["engines"][0]
    assert data["cache"] == "hit" and {"build_seconds", "size_bytes"} <= set(data)


def test_bad_cache_dir_messages(tmp_path: pathlib.Path) -> None:
    """A cache_dir of the wrong type or that is a file is refused, saying what to do."""
    with pytest.raises(TypeError, match="cache_dir must be a path, False or None"):
        CompileSettings(cache_dir=3)  # type: ignore[arg-type]
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OSError, match="cannot use cache_dir .* or cache_dir=False"):
        cache.EngineCache(blocker, 1 << 20)


def test_unkeyed_settings_are_settings() -> None:
    """Every name declared as not affecting engines is a real setting (no stale entries)."""
    names = {f.name for f in CompileSettings.__dataclass_fields__.values()}
    assert cache_key.UNKEYED_SETTINGS.issubset(names)
    assert {"workspace_size", "optimization_level"} <= names - cache_key.UNKEYED_SETTINGS


def test_graph_digest_ignores_the_order_of_independent_nodes() -> None:
    """Listing independent nodes in another order keeps the digest; swapping operands does not."""

    def f1(x: torch.Tensor) -> torch.Tensor:
        a = torch.relu(x)
        b = torch.sin(x)
        return a + b

    def f2(x: torch.Tensor) -> torch.Tensor:
        b = torch.sin(x)
        a = torch.relu(x)
        return a + b

    def f3(x: torch.Tensor) -> torch.Tensor:
        a = torch.relu(x)
        b = torch.sin(x)
        return b + a

    d1, d2, d3 = (cache_key._graph_digest(torch.fx.symbolic_trace(f)) for f in (f1, f2, f3))
    assert d1 == d2 and d1 != d3


def test_eviction_removes_stale_temporaries_only(tmp_path: pathlib.Path) -> None:
    """A crashed writer's day-old temporary file goes at the next store; a fresh one stays."""
    store = cache.EngineCache(tmp_path, 1 << 20)
    old, fresh = store.engines / ".tmp-1-old.part", store.engines / ".tmp-2-new.part"
    old.write_bytes(b"x")
    fresh.write_bytes(b"y")
    os.utime(old, (1e9, 1e9))
    store.put("e" * 64, b"5" * 10, 1.0)
    assert not old.exists() and fresh.exists()


def test_background_digests_equal_direct_ones_and_see_every_byte() -> None:
    """Digests hashed by background threads equal those hashed inline; one byte changes them."""
    big = torch.randn(3, cache_key.CHUNK // 8 + 5)  # several chunks, the last one partial
    strided = torch.arange(64.0).reshape(8, 8).t()  # not contiguous: hashed in C order
    with cache_key.TensorDigests(workers=2) as threads:
        threads.start([big, strided])
        background = threads.get([big, strided])
    with cache_key.TensorDigests(workers=0) as inline:
        direct = inline.get([big, strided.contiguous()])
    assert background == direct
    changed = big.clone()
    changed[-1, -1] += 1.0
    with cache_key.TensorDigests(workers=0) as inline:
        assert inline.get([changed])[0] != background[0]


def test_tensor_read_by_two_regions_is_hashed_once() -> None:
    """A tensor listed twice (two regions reading one weight) is hashed one time per compile."""
    w = torch.randn(cache_key.CHUNK // 4 * 2)  # exactly two chunks
    before = len(cache_key._HASH_CPU)
    with cache_key.TensorDigests(workers=1) as digests:
        digests.start([w, w])
        b = digests.get([w, w])
        a = digests.get([w])
    assert b == a + a and len(cache_key._HASH_CPU) - before == 2


def test_meta_tensor_is_refused_when_its_digest_is_asked_for() -> None:
    """A tensor without bytes is refused when the key needs its digest, never when queued."""
    meta = torch.empty(4, device="meta")
    with cache_key.TensorDigests() as digests:
        digests.start([meta])
        with pytest.raises(cache_key.Uncacheable, match="on meta"):
            digests.get([meta])


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda b: b + b"extra", "trailing bytes: 5"),
        (lambda b: b"", "truncated: empty file"),
        (lambda b: b[:20], "truncated header"),
        (lambda b: b[:40], "unreadable header"),
        (lambda b: b[: len(b) // 2], "truncated: "),
    ],
)
def test_damaged_entries_are_dropped_with_their_reason(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture, damage: Any, reason: str
) -> None:
    """Trailing bytes, an empty file or a cut header are reported as damage, never loaded."""
    store = cache.EngineCache(tmp_path, 1 << 30)
    key = "f" * 64
    engine = bytes(range(256)) * (cache_key.CHUNK // 256 + 3)  # more than one CRC chunk
    store.put(key, engine, 1.0)
    entry = store.get(key)
    assert entry is not None and entry.engine == engine
    del entry
    store.path(key).write_bytes(damage(store.path(key).read_bytes()))
    with caplog.at_level(logging.WARNING, logger="torch_trt"):
        assert store.get(key) is None
    assert not store.path(key).exists()
    assert any(f"is damaged ({reason}" in r.getMessage() for r in caplog.records)


def test_engines_are_stored_and_unlocked_when_compile_returns(tmp_path: pathlib.Path) -> None:
    """A miss stores in the background, yet the entry is whole and its lock free on return."""
    model, x = _Net().eval(), torch.randn(2, 8)
    compiled = torch_trt.dynamo.compile(model, [x], min_block_size=1, cache_dir=tmp_path)
    rep = torch_trt.report(compiled)
    (info,) = rep.engine_info
    assert info.cache == "miss" and "cache_store" in rep.stage_seconds
    store = cache.EngineCache(tmp_path, 1 << 30)
    fd = os.open(store.locks / f"{info.cache_key[:2]}.lock", os.O_RDWR)
    try:
        assert _files.try_lock(fd)
    finally:
        os.close(fd)
    assert store.get(info.cache_key) is not None
