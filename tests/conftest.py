"""Every test compiles into a private disk cache, never the user's."""

import os

import pytest


@pytest.fixture(autouse=True, scope="session")
def _private_cache_dir(tmp_path_factory):
    old = os.environ.get("TENSORIR_CACHE_DIR")
    os.environ["TENSORIR_CACHE_DIR"] = str(tmp_path_factory.mktemp("tensorir-cache"))
    yield
    if old is None:
        del os.environ["TENSORIR_CACHE_DIR"]
    else:
        os.environ["TENSORIR_CACHE_DIR"] = old
