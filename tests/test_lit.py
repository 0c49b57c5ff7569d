"""Pass tests as text in, text out: every `tests/lit/*.mlir` file, split at `// -----` lines into
cases, is parsed, run through the pipeline of its `// RUN: <pipeline>` line (verifying after each
pass) and printed; its `// CHECK:` lines must then match, FileCheck-style:

- `CHECK: text` matches on a later line than the previous match (`CHECK-LABEL:` too, naming a
  function by convention), `CHECK-NEXT:` on the very next line, and `CHECK-NOT: text` on no line
  between the surrounding matches.
- Text is literal except `{{regex}}`, `[[NAME:regex]]` (capture) and `[[NAME]]` (the captured
  text), so checks name values structurally, not by their printed numbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from tensorir.ir.parser import parse_module
from tensorir.passes import run_pipeline

LIT_DIR = Path(__file__).parent / "lit"
_DIRECTIVE = re.compile(r"//\s*(RUN|CHECK[\w-]*):(.*)$")
_KINDS = ("CHECK", "CHECK-LABEL", "CHECK-NEXT", "CHECK-NOT")
_SPECIAL = re.compile(r"\{\{(.*?)\}\}|\[\[(\w+):(.*?)\]\]|\[\[(\w+)\]\]")


@dataclass
class Check:
    kind: str
    text: str
    line: int  # in the .mlir file, for messages


@dataclass(repr=False)
class Case:
    path: Path
    first_line: int
    source: str
    pipeline: str
    checks: list[Check]

    def __repr__(self) -> str:
        return f"{self.path.name}:{self.first_line}"


def _cases(path: Path) -> list[Case]:
    text = path.read_text()
    pipeline = None
    cases, line_no = [], 1
    for chunk in re.split(r"^// -----\s*$", text, flags=re.M):
        checks = []
        for i, line in enumerate(chunk.splitlines()):
            m = _DIRECTIVE.search(line)
            if m is None:
                continue
            kind, body = m.group(1), m.group(2).strip()
            if kind == "RUN":
                pipeline = body
            elif kind not in _KINDS:
                raise ValueError(f"{path}:{line_no + i}: unknown directive {kind}")
            else:
                checks.append(Check(kind, body, line_no + i))
        if pipeline is None:
            raise ValueError(f"{path}: no '// RUN: <pipeline>' line before line {line_no}")
        if checks:  # blank lines in front keep parse errors at the file's line numbers
            cases.append(Case(path, line_no, "\n" * (line_no - 1) + chunk, pipeline, checks))
        line_no += chunk.count("\n")
    return cases


def _regex(check: str, names: dict[str, str]) -> re.Pattern:
    out, pos = [], 0
    for m in _SPECIAL.finditer(check):
        out.append(re.escape(check[pos : m.start()]))
        regex, define, define_re, use = m.groups()
        if regex is not None:
            out.append(f"(?:{regex})")
        elif define is not None:
            out.append(f"(?P<{define}>{define_re})")
        else:
            if use not in names:
                raise AssertionError(f"[[{use}]] used before it is captured")
            out.append(re.escape(names[use]))
        pos = m.end()
    out.append(re.escape(check[pos:]))
    return re.compile("".join(out))


def filecheck(output: str, checks: list[Check], where: str) -> None:
    """Assert that `checks` match `output` (see the module docstring)."""
    lines = output.splitlines()
    names: dict[str, str] = {}
    pos = 0  # the first line the next positive check may match
    pending_not: list[Check] = []

    def fail(check: Check, why: str) -> None:
        pytest.fail(f"{where}: line {check.line}: {check.kind}: {check.text}\n{why}\n\n{output}")

    def reject_nots(upto: int) -> None:
        for c in pending_not:
            pat = _regex(c.text, names)
            for i in range(pos, upto):
                if pat.search(lines[i]):
                    fail(c, f"found on output line {i + 1}: {lines[i].strip()}")
        pending_not.clear()

    for c in checks:
        if c.kind == "CHECK-NOT":
            pending_not.append(c)
            continue
        pat = _regex(c.text, names)
        candidates = [pos] if c.kind == "CHECK-NEXT" else range(pos, len(lines))
        hit = next((i for i in candidates if i < len(lines) and pat.search(lines[i])), None)
        if hit is None:
            fail(c, "no match" + (" on the next line" if c.kind == "CHECK-NEXT" else ""))
        reject_nots(hit)
        names.update(pat.search(lines[hit]).groupdict())
        pos = hit + 1
    reject_nots(len(lines))


CASES = [case for path in sorted(LIT_DIR.glob("*.mlir")) for case in _cases(path)]


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_lit(case: Case) -> None:
    module = parse_module(case.source, str(case.path))
    out = str(run_pipeline(module, case.pipeline, verify_each=True))
    filecheck(out, case.checks, repr(case))


def test_filecheck_semantics() -> None:
    """The checker itself: order, NEXT, NOT between matches, captures."""
    out = "a %1 = x\nb %2 = y(%1)\nc z"
    ok = [Check("CHECK", "[[V:%\\d+]] = x", 1), Check("CHECK-NEXT", "y([[V]])", 2)]
    filecheck(out, ok + [Check("CHECK-NOT", "q", 3), Check("CHECK", "c", 4)], "self")
    for bad in (
        [Check("CHECK", "y", 1), Check("CHECK", "x", 2)],  # out of order
        [Check("CHECK", "a", 1), Check("CHECK-NEXT", "c", 2)],  # not the next line
        [Check("CHECK", "a", 1), Check("CHECK-NOT", "y", 2), Check("CHECK", "c", 3)],
        [Check("CHECK", "[[V:%\\d+]] = x", 1), Check("CHECK", "y(%7)", 2)],
        [Check("CHECK", "[[V:%\\d+]] = x", 1), Check("CHECK", "{{z|w}} [[V]]", 2)],
    ):
        with pytest.raises(pytest.fail.Exception):
            filecheck(out, bad, "self")
