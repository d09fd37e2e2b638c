"""`python -m core.data`: fetch, verify and cache a data set (see core.data.cli)."""

from core.cli import run
from core.data.cli import main

run(main)
