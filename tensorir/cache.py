"""On-disk cache of compiled code: IR text in, optimized LLVM IR and object code out.

An entry is keyed by an IR text (tensor-level for `tensorir.compile`, unoptimized LLVM IR for
`compile_object`), the pass pipeline, the target, the host CPU (object code uses all its
features), the tensorir, llvmlite and LLVM versions and a digest of tensorir's source. It lives
under `TENSORIR_CACHE_DIR` (default `~/.cache/tensorir`). Every file carries a SHA-256 of its
contents: a corrupt or truncated file is deleted and rebuilt, never loaded. Writes go to a
temporary file renamed into place, so concurrent processes never see half an entry.

>>> import os, tempfile
>>> from unittest import mock
>>> ir = "define i32 @answer() {\\n  ret i32 42\\n}\\n"
>>> with mock.patch.dict(os.environ, TENSORIR_CACHE_DIR=tempfile.mkdtemp()):
...     first = compile_object(ir, pipeline="", target="cpu")
...     second = compile_object(ir, pipeline="", target="cpu")
>>> first.hit, second.hit, first.obj == second.obj
(False, True, True)
"""

from __future__ import annotations

import functools
import hashlib
import os
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import llvmlite
import llvmlite.binding as llvm

from .lower_llvm import host

_MAGIC = b"TENSORIR-CACHE-1\n"
_DIGEST = 32

# How often this process compiled, reused or threw away an entry: tests read these to prove a
# second process did no LLVM work.
STATS = {"compiles": 0, "hits": 0, "corrupt": 0}


@dataclass(frozen=True)
class CachedCode:
    """Object code for the host, the optimized LLVM IR it came from, and whether it was cached."""

    obj: bytes
    llvm_ir: str
    hit: bool


def cache_dir() -> Path:
    """Where entries live: `$TENSORIR_CACHE_DIR`, else `~/.cache/tensorir`."""
    root = os.environ.get("TENSORIR_CACHE_DIR")
    return Path(root) if root else Path.home() / ".cache" / "tensorir"


@functools.cache
def pic_target_machine() -> llvm.TargetMachine:
    """The host CPU at -O3, position-independent: its objects link into shared libraries and
    also load into MCJIT."""
    from .lower_llvm.engine import host_target_machine

    host_target_machine()  # initializes the targets
    return llvm.Target.from_default_triple().create_target_machine(
        cpu=llvm.get_host_cpu_name(),
        features=host.feature_string(),
        opt=3,
        reloc="pic",
        codemodel="small",
    )


@functools.cache
def source_digest() -> str:
    """SHA-256 of tensorir's own source files: an entry keyed by tensor-level IR (`tensorir.
    compile`) is compiled by the code generators, so a change to them, released or not, must
    not find the code the old ones made."""
    h = hashlib.sha256()
    root = Path(__file__).parent
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def cache_key(text: str, pipeline: str, target: str) -> str:
    """Hex digest naming the entry for this IR text, pipeline, target, host CPU, versions and
    tensorir's source."""
    from . import __version__

    parts = [
        "tensorir",
        __version__,
        source_digest(),
        llvmlite.__version__,
        ".".join(map(str, llvm.llvm_version_info)),
        target,
        pic_target_machine().triple,
        llvm.get_host_cpu_name(),
        host.feature_string(),
        pipeline,
        text,
    ]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def load(key: str) -> list[bytes] | None:
    """The blobs stored under `key`, or None when absent or corrupt (a corrupt file is deleted)."""
    found = _read(_path(key))
    if found is not None:
        STATS["hits"] += 1
    return found


def store(key: str, blobs: list[bytes]) -> None:
    """Keep `blobs` under `key`, atomically; a failed write only costs a later rebuild."""
    _write(_path(key), blobs)


def build_object(llvm_ir: str) -> tuple[bytes, str]:
    """Object code for the host and the optimized LLVM IR (always compiles; counted)."""
    from .lower_llvm.engine import optimize

    mod = optimize(llvm_ir)
    obj = pic_target_machine().emit_object(mod)
    STATS["compiles"] += 1
    return obj, str(mod)


def compile_object(llvm_ir: str, pipeline: str, target: str = "cpu") -> CachedCode:
    """Optimize `llvm_ir` at -O3 and emit object code for the host, or reuse the cached result.

    `pipeline` is the tensorir pass pipeline that produced the IR (part of the key only).
    """
    key = cache_key(llvm_ir, pipeline, target)
    found = load(key)
    if found is not None:
        return CachedCode(found[0], found[1].decode(), True)
    obj, opt_ir = build_object(llvm_ir)
    store(key, [obj, opt_ir.encode()])
    return CachedCode(obj, opt_ir, False)


def _path(key: str) -> Path:
    return cache_dir() / key[:2] / f"{key}.bin"


def _read(path: Path) -> list[bytes] | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    blobs = _decode(data)
    if blobs is None:
        STATS["corrupt"] += 1
        path.unlink(missing_ok=True)
    return blobs


def _decode(data: bytes) -> list[bytes] | None:
    head = len(_MAGIC) + _DIGEST
    if len(data) < head or not data.startswith(_MAGIC):
        return None
    payload = data[head:]
    if hashlib.sha256(payload).digest() != data[len(_MAGIC) : head]:
        return None
    blobs, pos = [], 0
    while pos < len(payload):
        (n,) = struct.unpack_from("<Q", payload, pos)
        blobs.append(payload[pos + 8 : pos + 8 + n])
        pos += 8 + n
    return blobs


def _write(path: Path, blobs: list[bytes]) -> None:
    payload = b"".join(struct.pack("<Q", len(b)) + b for b in blobs)
    data = _MAGIC + hashlib.sha256(payload).digest() + payload
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only or full disk costs a recompile next time, nothing more
