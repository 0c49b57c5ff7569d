"""Test-wide setup: a private disk cache for compiled code; hypothesis profiles."""

import os

import pytest
from hypothesis import settings

# CI runs the same examples every time (`HYPOTHESIS_PROFILE=ci`, set by .ci/run): a gate must not
# depend on the draw. Local runs keep exploring new examples.
settings.register_profile("ci", derandomize=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(autouse=True, scope="session")
def _private_cache_dir(tmp_path_factory):
    old = os.environ.get("TENSORIR_CACHE_DIR")
    os.environ["TENSORIR_CACHE_DIR"] = str(tmp_path_factory.mktemp("tensorir-cache"))
    yield
    if old is None:
        del os.environ["TENSORIR_CACHE_DIR"]
    else:
        os.environ["TENSORIR_CACHE_DIR"] = old
