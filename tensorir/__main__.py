"""`python -m tensorir`: the `tensorir` command."""

import sys

from .cli import main

sys.exit(main())
