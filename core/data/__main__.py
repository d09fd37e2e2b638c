"""`python -m core.data`: fetch, verify and cache a data set (see core.data.cli)."""

import sys

from core.data.cli import main

sys.exit(main())
