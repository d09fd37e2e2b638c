"""The README's study results, written from the committed result files (`make results`).

What: reads every assets/study_*.json (written by `python -m core.study --preset NAME --json ...`),
renders one Markdown table per study (our selected k and test figures beside the paper's) and
writes them into README.md between the markers below; renders the figure of selected k against
depth (app/plots.study_depth) to assets/study_depth.png when kaleido can export images.

Why: the README's numbers must be the files' numbers; tests/test_study.py checks that they are
(`python scripts/results.py --check` exits 1 when the README is stale).

    python scripts/results.py            # rewrite the README block (and the PNG)
    python scripts/results.py --check    # exit 1 if the README block differs from the files
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from core.study.config import PAPER_NAMES  # noqa: E402
from core.study.report import StudyReport  # noqa: E402
from core.study.table import choice_label, choices_label, counts_label  # noqa: E402

README = ROOT / "README.md"
START, END = "<!-- study-results:start -->", "<!-- study-results:end -->"
FIGURE = ROOT / "assets" / "study_depth.png"


def _num(x: float, digits: int = 2) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _pm(mean: float, std: float, digits: int = 2) -> str:
    return _num(mean, digits) + ("" if std is None or math.isnan(std) else f" ± {_num(std, digits)}")


def _count(n: int | None, none: str) -> str:
    return none if n is None else f"{n:,}"


def study_markdown(report: StudyReport, source: str) -> str:
    """One study: what ran, and one table row per cell (ours beside the paper)."""
    s = report.study
    lines = [f"**{s.name or s.id}** (`{source}`): {', '.join(c.label for c in s.cells)}; "
             f"k ∈ {{{choices_label(s)}}} × lr ∈ {{{', '.join(f'{x:g}' for x in s.lrs)}}} × "
             f"{len(s.seeds)} seeds; {_count(s.n_train, 'all')} training images, {_count(s.n_val, 'default')} validation, "
             f"{_count(s.n_test, 'all')} test; at most {s.epochs} epochs, patience {s.patience}. "
             f"{report.runs_done}/{report.runs_total} runs finished"
             + (f", {report.seconds / 60:.1f} min of training (wall time) on the shared 2-core CPU." if report.seconds else "."), "",
             "| cell | selected k (per seed) | paper k | test err % k = 1 | test err % selected | selected − k = 1 "
             "[95% CI] | test CE k = 1 | test CE selected | paper test err % k = 1 / selected |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in report.table.itertuples():
        cell = f"{PAPER_NAMES.get(r.dataset, r.dataset)} {r.layers} × {r.width}, m {r.momentum:g}"
        paper_err = (f"{_num(r.paper_test_error_k1)} / {_num(r.paper_test_error_selected)}"
                     if not math.isnan(r.paper_test_error_k1) else "–")
        lines.append(
            f"| {cell} | {choice_label(r.selected_k, r.selected_schedule)} ({counts_label(r.k_counts)}) | "
            f"{choice_label(r.paper_selected_k)} | "
            f"{_pm(r.test_error_k1, r.test_error_k1_std)} | {_pm(r.test_error_selected, r.test_error_selected_std)} | "
            f"{_num(r.diff_test_error)} [{_num(r.diff_test_error_lo)}, {_num(r.diff_test_error_hi)}] | "
            f"{_pm(r.test_ce_k1, r.test_ce_k1_std, 3)} | {_pm(r.test_ce_selected, r.test_ce_selected_std, 3)} | "
            f"{paper_err} |")
    for note in report.notes:
        lines.append(f"\nNote: {note}")
    return "\n".join(lines)


def load_reports() -> dict[str, StudyReport]:
    """assets/study_*.json by file name: the presets' in PRESETS order, then any other by name."""
    from core.study.presets import PRESETS

    reports = {p.name: StudyReport.from_json(json.loads(p.read_text()))
               for p in sorted((ROOT / "assets").glob("study_*.json"))}
    order = list(PRESETS)
    return dict(sorted(reports.items(), key=lambda kv: order.index(kv[1].study.name)
                       if kv[1].study.name in order else len(order)))


def render() -> str:
    """The README block (markers included)."""
    reports = load_reports()
    body = "\n\n".join(study_markdown(r, f"assets/{name}") for name, r in reports.items()) or "(no result file yet)"
    return f"{START}\n{body}\n{END}"


def write_figure(reports: dict[str, StudyReport]) -> bool:
    """assets/study_depth.png from every study's table; False when images cannot be exported here."""
    from app import plots

    tables = [r.table for r in reports.values() if len(r.table)]
    seeds = [r.per_seed for r in reports.values() if len(r.per_seed)]
    if not tables:
        return False
    fig = plots.study_depth(pd.concat(tables, ignore_index=True), pd.concat(seeds, ignore_index=True))
    try:
        fig.write_image(str(FIGURE), width=900, height=480, scale=1)
    except Exception as exc:  # noqa: BLE001 - kaleido missing or no browser: the tables carry the numbers
        print(f"figure not written ({type(exc).__name__}: {exc}); the README tables carry the numbers",
              file=sys.stderr)
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if README.md's block differs from the files")
    args = parser.parse_args(argv)
    text = README.read_text()
    if START not in text or END not in text:
        print(f"README.md has no {START} ... {END} block", file=sys.stderr)
        return 1
    head, rest = text.split(START, 1)
    current, tail = rest.split(END, 1)
    block = render()
    if args.check:
        same = START + current + END == block
        print("README study results match the files" if same else "README study results are stale: make results",
              file=sys.stderr)
        return 0 if same else 1
    README.write_text(head + block + tail)
    if write_figure(load_reports()):
        print(f"wrote {FIGURE.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
