"""`python -m core.study`: see core/study/cli.py."""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: idle OpenMP threads sleep on a shared CPU

from core.cli import run  # noqa: E402
from core.study.cli import main  # noqa: E402

if __name__ == "__main__":
    run(main)
