"""The typed SSA tensor IR: types, ops, builder, text form, verifier."""

from . import types
from .builder import Builder
from .core import Block, DenseAttr, Function, Location, Module, Operation, Region, Value
from .opdef import REGISTRY, IRTypeError, OpDef, lookup
from .printer import print_function, print_module
from .verifier import VerifyError, verify

lookup("tir.add")  # import the op dialects so REGISTRY is complete

__all__ = [
    "Block", "Builder", "DenseAttr", "Function", "IRTypeError", "Location", "Module", "OpDef",
    "Operation", "REGISTRY", "Region", "Value", "VerifyError", "lookup", "print_function",
    "print_module", "types", "verify",
]  # fmt: skip
