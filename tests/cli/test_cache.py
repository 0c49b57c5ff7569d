"""The disk cache of compiled code: reused by a second process, corrupt entries rebuilt."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

import tensorir
from tensorir import cache

DATA = Path(__file__).parent.parent / "data"

# One process: compile the softmax file, run it, report what the cache did.
CHILD = """
import json, sys
import numpy as np, tensorir
from tensorir import cache
c = tensorir.compile(open(sys.argv[1]).read())
x = np.arange(20, dtype=np.float32).reshape(4, 5) / 7
print(json.dumps({**cache.STATS, "hit": c.cache_hit, "out": c(x).tolist()}))
"""


def child(cache_dir: Path) -> dict:
    env = {**os.environ, "TENSORIR_CACHE_DIR": str(cache_dir)}
    r = subprocess.run(
        [sys.executable, "-c", CHILD, DATA / "softmax.mlir"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(r.stdout)


def softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def entries(cache_dir: Path) -> list[Path]:
    return sorted(p for p in cache_dir.rglob("*.bin"))


def test_second_process_reuses_the_object_code(tmp_path):
    first, second = child(tmp_path), child(tmp_path)
    assert (first["compiles"], first["hits"], first["hit"]) == (1, 0, False)
    assert (second["compiles"], second["hits"], second["hit"]) == (0, 1, True)
    x = np.arange(20, dtype=np.float32).reshape(4, 5) / 7
    np.testing.assert_allclose(second["out"], softmax(x), rtol=1e-6)
    assert second["out"] == first["out"]
    assert len(entries(tmp_path)) == 1


def test_truncated_or_flipped_entries_are_rebuilt_never_loaded(tmp_path):
    child(tmp_path)
    (path,) = entries(tmp_path)
    good = path.read_bytes()
    x = np.arange(20, dtype=np.float32).reshape(4, 5) / 7
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0xFF
    for bad in (good[: len(good) // 2], bytes(flipped), b"", b"garbage"):
        path.write_bytes(bad)
        r = child(tmp_path)
        assert (r["corrupt"], r["compiles"], r["hits"]) == (1, 1, 0)
        np.testing.assert_allclose(r["out"], softmax(x), rtol=1e-6)
        assert path.read_bytes() == good  # rebuilt: the same object code again
    assert child(tmp_path)["hits"] == 1


def test_key_covers_ir_pipeline_and_target(tmp_path, monkeypatch):
    monkeypatch.setenv("TENSORIR_CACHE_DIR", str(tmp_path))
    text = (DATA / "softmax.mlir").read_text()
    assert not tensorir.compile(text).cache_hit
    assert tensorir.compile(text).cache_hit
    assert not tensorir.compile(text, pipeline="generalize,dce").cache_hit
    assert not tensorir.compile(text, contiguous=False).cache_hit
    assert not tensorir.compile(text.replace("tir.exp", "tir.tanh")).cache_hit
    keys = {cache.cache_key("ir", "p", t) for t in ("cpu", "other")}
    assert len(keys) == 2
    assert len(entries(tmp_path)) == 4


def test_key_covers_tensorirs_source(tmp_path, monkeypatch):
    """An entry made by other code generators (an edited checkout, same version number) is
    never loaded: the key holds a digest of tensorir's source."""
    monkeypatch.setenv("TENSORIR_CACHE_DIR", str(tmp_path))
    text = (DATA / "softmax.mlir").read_text()
    tensorir.compile(text)
    assert tensorir.compile(text).cache_hit
    monkeypatch.setattr(cache, "source_digest", lambda: "edited")
    assert not tensorir.compile(text).cache_hit


def test_default_location_is_the_user_cache_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("TENSORIR_CACHE_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache.cache_dir() == tmp_path / ".cache" / "tensorir"


JIT_SCRIPT = """
import json, numpy as np, tensorir
from tensorir import cache
f = tensorir.jit(lambda x: np.tanh(x) @ x.T + 1.0)
x = np.linspace(-1, 1, 12).reshape(3, 4)
out = f(x)
print(json.dumps({"stats": cache.STATS, "out": out.tolist()}))
"""


def test_jit_reuses_code_compiled_by_another_process(tmp_path):
    import json
    import subprocess
    import sys

    env = {**os.environ, "TENSORIR_CACHE_DIR": str(tmp_path)}
    runs = [
        json.loads(
            subprocess.run(
                [sys.executable, "-c", JIT_SCRIPT],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        for _ in range(2)
    ]
    assert runs[0]["stats"]["compiles"] == 1 and runs[0]["stats"]["hits"] == 0
    assert runs[1]["stats"]["compiles"] == 0 and runs[1]["stats"]["hits"] == 1
    assert runs[0]["out"] == runs[1]["out"]
    x = np.linspace(-1, 1, 12).reshape(3, 4)
    np.testing.assert_allclose(runs[1]["out"], np.tanh(x) @ x.T + 1.0, rtol=1e-12)
