"""``python -m refimpl``: the ``refimpl`` command (refimpl.cli)."""
import sys

from .cli import main

sys.exit(main())
