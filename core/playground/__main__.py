"""`python -m core.playground --help`: see core/playground/cli.py."""

from core.cli import run
from core.playground.cli import main

run(main)
