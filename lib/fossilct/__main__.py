"""``python -m fossilct``: the ``fossilct`` command (see :mod:`fossilct.cli`)."""

import sys

from fossilct.cli import main

if __name__ == "__main__":
    sys.exit(main())
