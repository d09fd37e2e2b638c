"""`python -m core.playground --help`: see core/playground/cli.py."""

import sys

from core.playground.cli import main

sys.exit(main())
