"""`python -m core.datamap ...`: see core/datamap/cli.py (or --help)."""

from core.cli import run
from core.datamap.cli import main

if __name__ == "__main__":
    run(main)
