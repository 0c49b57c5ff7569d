"""The `tensorir` command: inspect what the compiler does, run passes on IR files, compile and run.

    tensorir dump SCRIPT.py:FUNC --args "f32[64,32], f32[32]" --stage llvm
    tensorir opt IN.mlir --passes canonicalize,cse [-o OUT.mlir]
    tensorir compile IN.mlir --emit shared -o libf.so
    tensorir compile IN.mlir --target cuda --arch sm_90 -o f.ptx
    tensorir run IN.mlir --inputs a.npy b.npy [-o out.npz]

Bad input (a missing file, an unknown pass, a GPU architecture LLVM does not know) prints one
line and exits with status 1. IR text that does not parse or verify prints, as compilers do,
`file:line:col: error: ...` and under it the source line with a caret at the op. `--traceback`
shows the Python traceback instead.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import importlib.util
import logging
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

_ARG = re.compile(r"\s*([A-Za-z_]\w*)\s*(?:\[([^\]]*)\])?\s*")


class UsageError(Exception):
    """Bad input from the command line; printed as one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        # one line and status 1, as for every other bad input
        self.exit(1, f"{self.prog}: error: {message} (see --help)\n")


def parse_arg_types(spec: str) -> list[np.ndarray]:
    """Zero arrays for a spec like `"f32[64,32], i64[], f64"` (MLIR or numpy dtype names).

    >>> [(a.dtype.name, a.shape) for a in parse_arg_types("f32[2,3], i64")]
    [('float32', (2, 3)), ('int64', ())]
    """
    from .ir.types import dtype_from_mlir

    arrays, pos = [], 0
    while pos < len(spec):
        m = _ARG.match(spec, pos)
        if m is None or m.end() == pos:
            raise UsageError(f"--args: expected DTYPE[d0,d1,...] at column {pos + 1} of {spec!r}")
        name, dims = m.group(1), m.group(2)
        dt = dtype_from_mlir(name.replace("u", "ui", 1) if re.fullmatch(r"u\d+", name) else name)
        try:
            np_dtype = dt.np if dt is not None else np.dtype(name)
            shape = tuple(int(d) for d in dims.split(",") if d.strip()) if dims else ()
        except (TypeError, ValueError):
            raise UsageError(f"--args: cannot read {m.group().strip()!r}") from None
        arrays.append(np.zeros(shape, np_dtype))
        pos = m.end()
        if pos < len(spec):
            if spec[pos] != ",":
                raise UsageError(f"--args: expected ',' at column {pos + 1} of {spec!r}")
            pos += 1
    return arrays


def _load_function(target: str):
    path, sep, name = target.rpartition(":")
    if not sep or not path or not name:
        raise UsageError(f"expected SCRIPT.py:FUNC, got {target!r}")
    if not Path(path).is_file():
        raise UsageError(f"{path}: no such file")
    spec = importlib.util.spec_from_file_location(Path(path).stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(Path(path).resolve().parent))  # the script's own imports
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.pop(0)
    fn = getattr(module, name, None)
    if fn is None:
        raise UsageError(f"{path} defines no {name!r}")
    return fn


def _read_ir(path: str):
    from .ir.parser import parse_module
    from .ir.verifier import verify

    if path == "-":
        text, filename = sys.stdin.read(), "<stdin>"
    else:
        try:
            text, filename = Path(path).read_text(), path
        except OSError as e:
            raise UsageError(f"{path}: {e.strerror}") from None
    module = parse_module(text, filename)
    verify(module)
    return module


def _write(text: str, out: str | None) -> None:
    if out is None or out == "-":
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        Path(out).write_text(text if text.endswith("\n") else text + "\n")


def cmd_dump(args: argparse.Namespace) -> None:
    from .frontend.jit import JitFunction, jit

    if args.arch and args.stage != "ptx":
        raise UsageError("--arch applies to --stage ptx")
    arch = gpu_arch(args.arch) if args.stage == "ptx" else None
    fn = _load_function(args.target)
    f = fn if isinstance(fn, JitFunction) else jit(fn, **_pipeline(args))
    with _decisions("fusion") as fusion:
        lowered = f.lower(*parse_arg_types(args.args))
    if args.all_stages:
        lowered.dump(args.all_stages)
        print(f"wrote {len(lowered.stages())} stages to {args.all_stages}", file=sys.stderr)
    if arch is not None:
        _write(_traced_ptx(lowered, arch, _pipeline(args)), args.output)
    elif args.stage or not (args.all_stages or args.stats):
        _write(lowered.as_text(args.stage or "traced"), args.output)
    if args.stats:
        print(_stats(lowered, fusion))


def _traced_ptx(lowered, arch: str, pipeline: dict) -> str:
    """PTX of the traced function (`pipeline`: `compile_ptx`'s option, if given)."""
    from .ir.parser import parse_module
    from .lower_ptx import compile_ptx

    traced = parse_module(lowered.traced).functions[0]
    return compile_ptx(traced, arch=arch, **pipeline).ptx


def _pipeline(args: argparse.Namespace) -> dict:
    """The pipeline keyword from --passes; without it each backend runs its own default (the
    GPU's may differ from the CPU's)."""
    return {} if args.passes is None else {"pipeline": args.passes}


@contextlib.contextmanager
def _decisions(name: str):
    """Collect what the pass logging to `tensorir.<name>` decided while the block runs."""
    logger = logging.getLogger(f"tensorir.{name}")
    messages: list[str] = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = lambda record: messages.append(record.getMessage())
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield messages
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def _stats(lowered, fusion: list[str]) -> str:
    from .ir.parser import parse_module

    def counts(text: str) -> collections.Counter:
        return collections.Counter(op.name for op in parse_module(text).walk())

    traced, generic = counts(lowered.traced), counts(lowered.generic)
    lines = ["ops (traced):"]
    lines += [f"  {n:<24} {k}" for n, k in sorted(traced.items()) if n != "func.func"]
    lines.append(f"generic loops (lowered): {generic['tir.generic']}")
    lines.append("fusion decisions:")
    lines += [f"  {m}" for m in dict.fromkeys(fusion)] or ["  (none)"]
    lines.append("memory plan:")
    lines += [f"  {k:<24} {v}" for k, v in lowered.memory_stats().items()]
    lines.append("compile time (ms):")
    lines += [f"  {k:<24} {v * 1e3:.3f}" for k, v in lowered.timings.items()]
    return "\n".join(lines)


def cmd_opt(args: argparse.Namespace) -> None:
    from .ir.verifier import verify
    from .passes.manager import PASSES, PassManager, parse_pipeline

    if args.list_passes:
        parse_pipeline("")  # registers the passes
        for name in sorted(PASSES):
            doc = (PASSES[name].__doc__ or "").strip().splitlines()
            print(f"{name:<16} {doc[0] if doc else ''}")
        return
    if args.input is None:
        raise UsageError("no input file (use '-' for stdin)")
    module = _read_ir(args.input)
    try:
        parse_pipeline(args.passes)
    except KeyError as e:
        raise UsageError(e.args[0]) from None
    module = PassManager(args.passes, verify_each=args.verify_each).run(module)
    verify(module)  # as mlir-opt does: the output is checked even without --verify-each
    _write(str(module), args.output)


def cmd_compile(args: argparse.Namespace) -> None:
    from .aot import compile

    target = args.target or ("cuda" if args.emit == "ptx" else "cpu")
    if target == "cuda":
        _compile_cuda(args)
        return
    if args.emit == "ptx":
        raise UsageError("--emit ptx needs --target cuda")
    if args.arch:
        raise UsageError("--arch applies to --target cuda")
    if args.emit in ("obj", "shared") and not args.output:
        raise UsageError(f"--emit {args.emit} writes a binary: give -o OUT")
    module = _read_ir(args.input)
    if args.func:
        module.functions = [module.get(args.func)]
    compiled = compile(module, target=target, contiguous=True, **_pipeline(args))
    if args.emit in (None, "llvm"):
        _write(compiled.llvm_ir, args.output)
    elif args.emit == "asm":
        _write(compiled.asm, args.output)
    elif args.emit == "obj":
        Path(args.output).write_bytes(compiled.obj)
    else:
        lib, header = compiled.save(args.output)
        print(f"wrote {lib} and {header}", file=sys.stderr)


def _compile_cuda(args: argparse.Namespace) -> None:
    """`compile --target cuda`: one function's kernels as PTX (or their LLVM IR)."""
    from .lower_ptx import compile_ptx

    if args.emit not in (None, "ptx", "llvm"):
        raise UsageError(f"--target cuda emits ptx or llvm, not {args.emit}")
    arch = gpu_arch(args.arch)
    module = _read_ir(args.input)
    if args.func:
        f = module.get(args.func)
    elif len(module.functions) == 1:
        f = module.functions[0]
    else:
        # one PTX module per function: concatenated ones would not assemble
        names = ", ".join(f"@{g.sym_name}" for g in module.functions)
        raise UsageError(f"--target cuda compiles one function: give --func (one of {names})")
    program = compile_ptx(f, arch=arch, **_pipeline(args))
    _write(program.llvm_ir if args.emit == "llvm" else program.ptx, args.output)


def gpu_arch(arch: str | None) -> str:
    """The GPU architecture to compile for: `arch` when LLVM knows it, by default the current
    device's (with cupy and a GPU), else `lower_ptx.DEFAULT_ARCH`.

    >>> gpu_arch("sm_90")
    'sm_90'
    >>> gpu_arch("sm_999")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    tensorir.cli.UsageError: --arch sm_999: not a GPU architecture LLVM's NVPTX backend knows ...
    """
    from .lower_ptx import DEFAULT_ARCH, device_arch

    if arch is None:
        # PTX for an older architecture still runs on newer GPUs, so a device LLVM does not
        # know yet gets the default rather than an error
        device = device_arch()
        return device if device is not None and _nvptx_knows(device) else DEFAULT_ARCH
    if not _nvptx_knows(arch):
        raise UsageError(
            f"--arch {arch}: not a GPU architecture LLVM's NVPTX backend knows (sm_80, sm_90, ...)"
        )
    return arch


def _nvptx_knows(arch: str) -> bool:
    """Whether LLVM's NVPTX backend knows the processor `arch`. For an unknown one LLVM only
    prints a warning to stderr and writes `.target <arch>` anyway (which ptxas then rejects), so
    the warning is captured from file descriptor 2 and looked for."""
    import tempfile

    import llvmlite.binding as llvm

    from .lower_ptx.target import PTX_TRIPLE

    llvm.initialize_all_targets()
    target = llvm.Target.from_triple(PTX_TRIPLE)
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            target.create_target_machine(cpu=arch)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        captured.seek(0)
        return b"is not a recognized processor" not in captured.read()


def cmd_run(args: argparse.Namespace) -> None:
    from .lower_llvm.engine import compile_function

    module = _read_ir(args.input)
    f = module.get(args.func) if args.func else module.functions[0]
    inputs = []
    for path in args.inputs:
        try:
            inputs.append(np.ascontiguousarray(np.load(path, allow_pickle=False)))
        except (OSError, ValueError) as e:
            raise UsageError(f"{path}: {e}") from None
    want = f.type.inputs
    if len(inputs) != len(want):
        raise UsageError(f"@{f.sym_name} takes {len(want)} inputs, got {len(inputs)}")
    for i, (a, t) in enumerate(zip(inputs, want, strict=True)):
        shape_ok = a.ndim == t.rank and all(
            d is None or d == n for d, n in zip(t.shape, a.shape, strict=True)
        )
        if a.dtype != t.dtype.np or not shape_ok:
            raise UsageError(f"input {i} ({args.inputs[i]}): expected {t}, got {a.dtype}{a.shape}")
    exe = compile_function(f, contiguous_args=[True] * len(inputs))
    results = exe(*inputs)
    if args.output:
        np.savez(args.output, **{f"out{i}": r for i, r in enumerate(results)})
    else:
        for i, r in enumerate(results):
            print(f"out{i}: {r.dtype}{list(r.shape)}\n{np.array2string(r, threshold=64)}")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `tensorir` command."""
    from .lower_llvm.engine import DEFAULT_PIPELINE
    from .lower_ptx.target import DEFAULT_ARCH

    arch_help = (
        "GPU architecture of the PTX: sm_80, sm_90, ... (default: the current GPU's, found "
        f"with cupy, else {DEFAULT_ARCH})"
    )
    traceback_help = "show the Python traceback on errors"
    # SUPPRESS keeps a subcommand from resetting a --traceback given before its name
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--traceback", action="store_true", default=argparse.SUPPRESS, help=traceback_help
    )
    p = _Parser(prog="tensorir", description="tensorir: inspect, transform, compile and run IR.")
    p.add_argument("--traceback", action="store_true", help=traceback_help)
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    d = sub.add_parser(
        "dump",
        parents=[common],
        help="print a Python function's IR at any stage",
        description="Trace SCRIPT.py:FUNC on zero arrays of the given types, compile it and print "
        "one stage: traced, each pass of the pipeline, generic, llvm-unoptimized, llvm, asm.",
    )
    d.add_argument("target", metavar="SCRIPT.py:FUNC", help="the file and the function in it")
    d.add_argument(
        "--args",
        required=True,
        help='argument types, e.g. "f32[64,32], f32[32], i64" (a bare dtype is a 0-d array)',
    )
    d.add_argument(
        "--stage",
        help="the stage to print (default: traced); ptx compiles the traced function for the "
        "GPU (see --arch)",
    )
    d.add_argument("--arch", help=arch_help)
    d.add_argument("--all-stages", metavar="DIR", help="write every stage into DIR")
    d.add_argument(
        "--stats",
        action="store_true",
        help="print op counts, loops, fusion decisions, memory plan, compile time per stage",
    )
    d.add_argument(
        "--passes",
        help=f"pipeline (default {DEFAULT_PIPELINE}; for --stage ptx the GPU backend's own)",
    )
    d.add_argument("-o", "--output", help="write to this file instead of stdout")
    d.set_defaults(run=cmd_dump)

    o = sub.add_parser(
        "opt",
        parents=[common],
        help="run passes on an IR file, like mlir-opt",
        description="Parse and verify IR text, run the named passes, print the result.",
    )
    o.add_argument("input", nargs="?", metavar="IN.mlir", help="IR file, '-' for stdin")
    o.add_argument("--passes", default="", help="comma-separated passes, e.g. canonicalize,cse")
    o.add_argument("--list-passes", action="store_true", help="list the passes and exit")
    o.add_argument("--verify-each", action="store_true", help="verify the IR after every pass")
    o.add_argument("-o", "--output", metavar="OUT.mlir", help="output file (default stdout)")
    o.set_defaults(run=cmd_opt)

    c = sub.add_parser(
        "compile",
        parents=[common],
        help="compile an IR file to LLVM IR, assembly, an object, a shared library or PTX",
        description="Compile every function of an IR file for the host CPU. --emit shared writes "
        "a shared library and a C header (OUT with suffix .h) declaring NAME_c(data, shapes, "
        "strides) per function; see docs/embedding.md. --target cuda (or --emit ptx) compiles "
        "one function (--func, if the file has several) to PTX for NVIDIA GPUs, one kernel per "
        "loop, for ptxas or the CUDA driver; cupy is not needed.",
    )
    c.add_argument("input", metavar="IN.mlir", help="IR file, '-' for stdin")
    c.add_argument(
        "--target",
        choices=["cpu", "cuda"],
        help="cpu (the default) or cuda (the default with --emit ptx)",
    )
    c.add_argument(
        "--emit",
        choices=["llvm", "asm", "obj", "shared", "ptx"],
        help="what to write: cpu: llvm (default), asm, obj, shared; cuda: ptx (default), llvm",
    )
    c.add_argument("--arch", help=arch_help)
    c.add_argument("--func", help="compile only this function")
    c.add_argument(
        "--passes", help="pipeline run before codegen (default: the target backend's own)"
    )
    c.add_argument("-o", "--output", metavar="OUT", help="output file (text: default stdout)")
    c.set_defaults(run=cmd_compile)

    r = sub.add_parser(
        "run",
        parents=[common],
        help="run an IR function on .npy inputs",
        description="Compile one function of an IR file (the first, or --func) and run it on "
        ".npy inputs; print the results or save them as out0, out1, ... in an .npz file.",
    )
    r.add_argument("input", metavar="IN.mlir", help="IR file, '-' for stdin")
    r.add_argument("--inputs", nargs="*", default=[], metavar="X.npy", help="one per argument")
    r.add_argument("--func", help="the function to run (default: the first)")
    r.add_argument("-o", "--output", metavar="OUT.npz", help="save results here")
    r.set_defaults(run=cmd_run)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `tensorir` command; returns the exit status.

    >>> main(["opt", "--list-passes"])  # doctest: +ELLIPSIS
    a...
    cse              Replace each pure op by an earlier equal one, where there is one.
    ...
    0
    """
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except BrokenPipeError:
        # the reader (`| head`) left: no message, and no second error when Python flushes stdout
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as e:
        if args.traceback:
            raise
        print(_message(e, args.command), file=sys.stderr)
        return 1
    return 0


def _message(e: Exception, command: str) -> str:
    """One line for bad input; for IR text, its position then the source line and a caret."""
    from .ir.parser import ParseError
    from .ir.verifier import VerifyError

    if isinstance(e, ParseError | VerifyError) and e.at is not None:
        return f"{e.at}: error: {e.reason}\n{e.at.excerpt()}"
    msg = e.args[0] if len(e.args) == 1 and isinstance(e.args[0], str) else str(e)
    msg = " ".join(msg.split()) or type(e).__name__
    kind = "" if isinstance(e, UsageError) else f"{type(e).__name__}: "
    return f"tensorir {command}: error: {kind}{msg}"
