"""`python -m core.toy`: the toy experiment's command line (see core/toy/train.py)."""

import sys

from core.toy.train import main

sys.exit(main())
