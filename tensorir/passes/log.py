"""`TENSORIR_LOG=fusion,...`: print the named passes' decisions (logger `tensorir.<name>`) to
stderr. Reading what the compiler decided is a debugging aid, so it is an environment switch;
it changes what is printed, never what is compiled."""

from __future__ import annotations

import logging
import os


def configure_from_env() -> None:
    """Enable debug output of the loggers named in TENSORIR_LOG (comma-separated)."""
    for name in filter(None, (n.strip() for n in os.environ.get("TENSORIR_LOG", "").split(","))):
        logger = logging.getLogger(f"tensorir.{name}")
        if not logger.handlers:
            handler = logging.StreamHandler()
            handler.setFormatter(logging.Formatter(f"tensorir.{name}: %(message)s"))
            logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)


configure_from_env()
