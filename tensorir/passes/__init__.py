"""Passes: functions from IR to IR, registered by name and run by the pass manager."""

from .manager import PASSES, PassManager, run_pipeline

__all__ = ["PASSES", "PassManager", "run_pipeline"]
