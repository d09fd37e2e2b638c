"""The paper's experiments section as one study: does the best k grow with depth, and does tuning
k beat cross-entropy? (Keren, Sabato & Schuller, AAAI 2017, Section 6, Tables 1, 3 and 4.)

A study is a grid of cells (data set x hidden layers x width x momentum); inside every cell,
k x learning rate x seeds, each run early-stopped on validation error. In each cell the paper's
selection protocol (core.mnist.selection: lr per k, then k, on validation) picks a k, compared with
k = 1 at its own best lr; the table has the paper's columns, the spread over seeds, paired
differences with 95% intervals, and the published numbers beside ours.

- `config`    Cell, StudyConfig (the grid, its runs, its id)
- `presets`   PRESETS: two CPU-sized studies and the paper's full tables
- `task`      run_here (CLIs), submit (pages), load; resumes: done runs are skipped
- `table`     the protocol per cell, per seed and on seed means; the table's columns
- `paper`     the published tables (assets/paper_tables.csv) and the comparison with ours
- `report`    StudyReport: everything above as one object, to and from JSON
- `cli`       `python -m core.study --help`

    from core.engine.lab import Lab
    from core.study import PRESETS, make_report, run_here
    study = PRESETS["mnist-1layer"].study
    report = make_report(study, run_here(Lab(), study))
    report.table[["layers", "selected_k", "test_error_k1", "test_error_selected", "paper_selected_k"]]
"""

from core.study.config import Cell, StudyConfig
from core.study.paper import compare_with_paper, paper_tables
from core.study.presets import PRESETS, Preset
from core.study.report import StudyReport, make_report
from core.study.table import TABLE_COLUMNS, cell_summary, study_table
from core.study.task import KIND, load, missing_runs, run_here, submit

__all__ = [
    "KIND", "PRESETS", "TABLE_COLUMNS", "Cell", "Preset", "StudyConfig", "StudyReport", "cell_summary",
    "compare_with_paper", "load", "make_report", "missing_runs", "paper_tables",
    "run_here", "study_table", "submit",
]
