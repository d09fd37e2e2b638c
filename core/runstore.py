"""`python -m core.runstore`: the run history from the shell. The command lives in the engine
(core.engine.runstore_cli, where its flags and exit codes are described); this module keeps the
short name working and re-exports what callers import from it.

    python -m core.runstore list [--kind mnist] [--status done] [--group ID] [--limit N] [--json]
"""

from __future__ import annotations

from core.cli import run
from core.engine.runstore_cli import main, runs_json
from core.engine.store import RunStore

__all__ = ["RunStore", "main", "runs_json"]

if __name__ == "__main__":
    run(main)
