#!/usr/bin/env python
"""Run every fossilct notebook headlessly with papermill, skipping steps that are up to date.

    python run_all.py                       # quick profile on the embedded synthetic dataset
    python run_all.py --profile smoke       # seconds per notebook (what the tests run)
    python run_all.py --data my_scans/      # your own volumes + specimens.csv
    python run_all.py --list                # the plan: notebooks, parameters, what is up to date

The same as ``fossilct run``; see ``fossilct.runner`` for what happens.
"""

import sys
from pathlib import Path

from fossilct import runner

if __name__ == "__main__":
    sys.exit(runner.main(sys.argv[1:], root=Path(__file__).resolve().parent))
