"""A study's result as one object: the table beside the paper, the per-seed choices, the surfaces.

What: `make_report(study, cells_results)` turns the finished runs of each cell into a
`StudyReport`: `table` (one row per cell: core.study.table's columns, then the published row and
the differences from core.study.paper), `per_seed` (the protocol on each seed alone),
`surfaces` (mean validation / test error per cell, k and lr), `notes` (cells that could not be
summarized) and the run counts. `report.to_json()` / `StudyReport.from_json(d)` are the files the
CLI writes and the page reads (assets/study_*.json are such files).

Why: the CLI, the page, the README script and the tests all read the same result in the same
shape, whether it was just computed from the store or loaded from a committed file.

    from core.study.report import make_report
    report = make_report(study, load(store, study))
    report.table[["dataset", "layers", "selected_k", "paper_selected_k"]]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

from core.engine.status import from_jsonable, to_jsonable
from core.mnist import RunResult
from core.study.config import Cell, StudyConfig
from core.study.paper import compare_with_paper
from core.study.table import TABLE_COLUMNS, per_seed_table, selection_surface, study_table


@dataclass
class StudyReport:
    study: StudyConfig
    table: pd.DataFrame  # one row per cell: TABLE_COLUMNS, paper_* and *_diff / *_beyond columns
    per_seed: pd.DataFrame  # one row per (cell, seed): the selection run on that seed alone
    surfaces: pd.DataFrame  # one row per (cell, k, lr): mean val/test error (%) over seeds
    notes: list[str] = field(default_factory=list)  # cells that could not be summarized, and why
    runs_done: int = 0  # finished runs found ("done" or "diverged")
    runs_total: int = 0  # runs the study has
    seconds: float | None = None  # wall time its launches took to train (core.study.task.training_seconds)

    def to_json(self) -> dict:
        """Plain JSON types (NaN as "NaN"): study, table, per_seed, surfaces, notes, counts."""
        return to_jsonable({
            "study": self.study.to_dict(), "table": self.table.to_dict("records"),
            "per_seed": self.per_seed.to_dict("records"), "surfaces": self.surfaces.to_dict("records"),
            "notes": self.notes, "runs_done": self.runs_done, "runs_total": self.runs_total,
            "seconds": self.seconds})

    @classmethod
    def from_json(cls, d: Mapping) -> "StudyReport":
        d = from_jsonable(dict(d))
        table, per_seed, surfaces = (pd.DataFrame(d["table"], columns=_columns(d["table"])),
                                     pd.DataFrame(d["per_seed"]), pd.DataFrame(d["surfaces"]))
        for frame, column in ((table, "selected_schedule"), (per_seed, "selected_schedule"), (surfaces, "schedule")):
            if column not in frame:  # a report from before k schedules: every choice was a constant k
                frame[column] = ""
        return cls(StudyConfig.from_dict(d["study"]), table, per_seed, surfaces, list(d.get("notes", [])),
                   int(d.get("runs_done", 0)), int(d.get("runs_total", 0)), d.get("seconds"))


def _columns(rows: Sequence[Mapping]) -> list[str]:
    return list(rows[0]) if rows else list(TABLE_COLUMNS)


def _surfaces(cells_results: Mapping[Cell, Sequence[RunResult]]) -> pd.DataFrame:
    frames = []
    for cell, results in cells_results.items():
        try:
            frame = selection_surface(results)
        except ValueError:
            continue
        frames.append(frame.assign(**dataclasses.asdict(cell)))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def make_report(study: StudyConfig, cells_results: Mapping[Cell, Sequence[RunResult]],
                seconds: float | None = None) -> StudyReport:
    """The report of a study's finished runs (cells_results: core.study.task.load)."""
    table, notes = study_table(cells_results)
    missing = [cell.label for cell in study.cells if cell not in cells_results]
    notes += [f"{label}: no finished run yet" for label in missing]
    done = sum(len(r) for r in cells_results.values())
    return StudyReport(study, compare_with_paper(table) if len(table) else table, per_seed_table(cells_results),
                       _surfaces(cells_results), notes, done, len(study.runs()), seconds)
