"""`OpDef`: everything the compiler knows about one op, declared in one place, and the registry.

An op's type rule (`infer`) is written once: the builder runs it to type new ops and the verifier
re-runs it to check existing ones. `eval` is the numpy reference used by constant folding, the
interpreter and the tests. `to_generic` rewrites the op into `tir.generic` form for the backends.
Fields left `None` are capabilities the op lacks; `missing()` lists them instead of a KeyError
at run time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .types import Type


class IRTypeError(TypeError):
    """An op's operands or attributes do not satisfy its type rule."""


@dataclass(frozen=True)
class Attr:
    """A declared attribute: its Python kind(s) and whether it may be omitted."""

    kind: type | tuple[type, ...]
    optional: bool = False


@dataclass
class OpDef:
    """One op's declaration: signature, traits, type rule, reference semantics and lowering."""

    name: str
    infer: Callable[..., list[Type]]  # (operand types, attrs) -> result types
    num_operands: int | None = None  # None: variadic
    attrs: dict[str, Attr] = field(default_factory=dict)
    traits: frozenset[str] = frozenset()
    eval: Callable | None = None  # (numpy operands, attrs) -> list of numpy results
    to_generic: Callable | None = None  # (builder, op) -> replacement values
    verify: Callable | None = None  # extra structural checks: (op) -> None or raise IRTypeError
    vjp: Callable | None = None
    jvp: Callable | None = None
    doc: str = ""

    def check_attrs(self, attrs: dict) -> None:
        for k, spec in self.attrs.items():
            if k not in attrs:
                if not spec.optional:
                    raise IRTypeError(f"{self.name}: missing attribute '{k}'")
            elif not isinstance(attrs[k], spec.kind):
                raise IRTypeError(
                    f"{self.name}: attribute '{k}' must be {_kind_name(spec.kind)}, "
                    f"got {type(attrs[k]).__name__}"
                )
        for k in attrs:
            if k not in self.attrs:
                raise IRTypeError(f"{self.name}: unknown attribute '{k}'")

    def infer_types(self, operand_types: list[Type], attrs: dict) -> list[Type]:
        """Check the operand count and attributes, then run the type rule."""
        if self.num_operands is not None and len(operand_types) != self.num_operands:
            raise IRTypeError(
                f"{self.name} takes {self.num_operands} operands, got {len(operand_types)}"
            )
        self.check_attrs(attrs)
        return list(self.infer(operand_types, attrs))


def _kind_name(kind) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)


REGISTRY: dict[str, OpDef] = {}


def register(opdef: OpDef) -> OpDef:
    """Add an op to the registry; a name is declared once."""
    if opdef.name in REGISTRY:
        raise ValueError(f"op {opdef.name} declared twice")
    REGISTRY[opdef.name] = opdef
    return opdef


def lookup(name: str) -> OpDef:
    """The OpDef for `name`; raises KeyError naming the op if it is not registered."""
    try:
        return REGISTRY[name]
    except KeyError:
        _load_dialects()  # first use: the op modules register themselves on import
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown op '{name}'") from None


def missing(capability: str) -> list[str]:
    """Names of registered ops whose `capability` field (e.g. 'vjp') is unset."""
    _load_dialects()
    return sorted(n for n, d in REGISTRY.items() if getattr(d, capability) is None)


def _load_dialects() -> None:
    from . import ops_elementwise, ops_scalar, ops_tensor  # noqa: F401  (registering imports)
