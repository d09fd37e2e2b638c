"""Paper tables: the paper's experiments section (Tables 1, 3, 4) as a study, launched, watched, compared."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import streamlit as st

from app import plots
from app.live import calibrated, executor_choice, live_jobs
from app.state import fmt_seconds, get_lab, session_id
from app.widgets import LEARNING_RATES, Numbers, k_values, number_list, pick_saved
from core.data import dataset_names
from core.engine.queue import QueueFullError
from core.estimate import estimate_study
from core.mnist import ConfigError
from core.results import MISSING, dash, mean_std
from core.study import PRESETS, StudyConfig, StudyReport, load as load_study, make_report
from core.study.config import PAPER_NAMES
from core.study.paper import paper_tables
from core.study.table import choice_label, choices_label, counts_label
from core.study.task import (KIND, missing_runs, study_from_store, studies_in_store, submit as submit_study, training_seconds,
                              uncached_datasets)

PS = dict(persist_state="session")
ASSETS = Path(__file__).resolve().parents[2] / "assets"
EXAMPLES = {p.stem: p for p in sorted(ASSETS.glob("study_*.json"))}  # the committed results (README numbers)


def _width(text: str) -> float:
    value = float(text)
    if value != int(value) or not 1 <= value <= 4096:
        raise ValueError(f"{text!r} is not a whole number from 1 to 4096")
    return value


WIDTHS = Numbers("widths must be whole numbers from 1 to 4096", _width, lambda v: f"{int(v)}", "e.g. 600, then Enter")


def _launch(study: StudyConfig, executor=None) -> None:
    """Queue the study's missing runs for this session; errors are shown, never raised."""
    missing = uncached_datasets(study)
    if missing:
        st.error(f"Cannot start: {', '.join(missing)} is not in the data directory. Run "
                 f"`python -m core.data --dataset {missing[0]}` where its source is reachable, or copy its files "
                 "into the data directory ($TUNABLE_DATA_DIR).")
        return
    try:
        launched = submit_study(get_lab(), study, owner=session_id(), executor=executor)
    except (ConfigError, ValueError, QueueFullError) as exc:
        st.error(f"Cannot start: {exc}")
        return
    st.session_state["paper_pick"] = f"store:{study.id}"
    n = sum(len(x.run_ids) for x in launched)
    st.toast(f"Queued {n} run(s) of study {study.id}." if n else "Every run of this study is done already.")


def _bound(seconds: float) -> str:
    """An upper-bound duration as a reader wants it: minutes, or hours past two hours."""
    return fmt_seconds(seconds) if seconds < 7200 else f"{seconds / 3600:,.0f} h"


def _preset(name: str) -> None:
    st.session_state["paper_autolaunch"] = name


def intro() -> None:
    st.title("Paper tables")
    st.markdown(
        "The paper's central claim, on real data: **the best k grows with depth** (k < 1 with 1 hidden layer, about 1 "
        "with 3, k > 1 with 5), and tuning k beats cross-entropy. A study trains, in every cell (data set × hidden "
        "layers × width × momentum), every k × learning rate × seed with early stopping on validation error, then "
        "applies the paper's protocol: the learning rate per k on validation, then k on validation, compared with "
        "k = 1 at its own best learning rate. Started again, a study trains only the runs that are not done.")


def launch() -> None:
    """Presets (each with its time here), your own grid, where to train."""
    lab = get_lab()
    with st.container(border=True):
        st.markdown("**Start a study** (a preset starts at once; times are estimates for this machine)")
        cols = [c for _ in range(0, len(PRESETS), 2) for c in st.columns(2)]  # two a row: the labels fit
        cal = calibrated()
        for col, (name, preset) in zip(cols, PRESETS.items()):
            expected, bound = estimate_study(preset.study, cal=cal)
            col.button(f"{preset.title.split(' (')[0]} · about {_bound(expected)}", key=f"paper_preset_{name}",
                       on_click=_preset, args=(name,), type="primary" if name == "mnist-1layer" else "secondary",
                       help=preset.about)
            col.caption(f"{len(preset.study.runs())} runs · about {_bound(expected)} here (at most {_bound(bound)}: "
                        "every run to its epoch cap)")
        with st.expander("Your own grid"):
            a, b, c, d = st.columns(4)
            datasets = a.multiselect("Data sets", list(dataset_names()), default=["mnist"], key="paper_datasets", **PS)
            layers = b.multiselect("Hidden layers", [1, 2, 3, 4, 5], default=[1], key="paper_layers", **PS)
            momenta = c.multiselect("Momentum", [0.0, 0.5, 0.9], default=[0.5], key="paper_momentum", **PS)
            seeds = d.number_input("Seeds", 1, 10, 2, key="paper_seeds", **PS)
            widths = number_list("Widths", "paper_widths", WIDTHS, default=["400"],
                                 choices=["64", "128", "256", "400", "800", "1100"], persist=True, add_label="Add a width")
            ks = k_values("k values (1 is always included)", "paper_k", default=["1/2", "1", "2"], persist=True)
            lrs = number_list("Learning rates", "paper_lr", LEARNING_RATES, default=["0.1", "0.3"],
                              choices=["0.01", "0.03", "0.1", "0.3", "1"], persist=True, add_label="Add a learning rate")
            a, b, c, d = st.columns(4)
            epochs = a.number_input("Most epochs", 1, 500, 10, key="paper_epochs", **PS)
            patience = b.number_input("Patience (epochs)", 1, 100, 3, key="paper_patience", **PS)
            n_train = c.number_input("Training images (0: all)", 0, 100_000, 5_000, step=1000, key="paper_ntrain", **PS)
            n_eval = d.number_input("Validation and test images", 100, 10_000, 5_000, step=1000, key="paper_neval", **PS)
            try:
                for picked in (widths, ks, lrs):
                    if picked.blocked:
                        raise ValueError(f"correct or clear {', '.join(map(repr, picked.rejected))} first")
                own = StudyConfig.grid(datasets, layers, [int(w) for w in widths.values], momenta,
                                       ks=sorted(set(ks.values) | {1.0}), lrs=lrs.values, seeds=list(range(int(seeds))),
                                       epochs=int(epochs), patience=int(patience), n_train=int(n_train) or None,
                                       n_val=int(n_eval), n_test=int(n_eval))
                error = None
            except (ConfigError, ValueError) as exc:
                own, error = None, str(exc)
            if error:
                st.error(f"Cannot start: {error}")
            else:
                todo = missing_runs(lab.store, own)
                expected, bound = estimate_study(own, todo, calibrated())
                st.caption(f"{len(own.runs())} runs ({len(todo)} not finished yet) · about {_bound(expected)} here "
                           f"(at most {_bound(bound)}) · study id {own.id}")
            start = st.button("Start", key="paper_start", type="primary", disabled=own is None)
        executor, executor_error = executor_choice("paper")
        if executor_error:
            st.error(f"Cannot use Ray: {executor_error}")
        elif start:
            _launch(own, executor)
        name = st.session_state.pop("paper_autolaunch", None)
        if name is not None and not executor_error:
            _launch(PRESETS[name].study, executor)


# ----------------------------------------------------------------------------- results
CELL = {"dataset": "data set", "layers": "hidden layers", "width": "width", "momentum": "momentum"}
PUBLISHED = {**CELL, "selected_k": "selected k", "test_error_k1": "test error % k = 1",
             "test_error_selected": "test error % selected", "test_ce_k1": "test CE (nats) k = 1",
             "test_ce_selected": "test CE (nats) selected"}
PER_SEED = {**CELL, "seed": "seed", "selected_k": "selected k", "selected_lr": "its lr", "k1_lr": "lr of k = 1",
            "test_error_selected": "test error % selected", "test_error_k1": "test error % k = 1",
            "test_ce_selected": "test CE (nats) selected", "test_ce_k1": "test CE (nats) k = 1"}
COMPARED = {  # metric -> (our header, the paper's header); errors in %, CE in nats
    "test_error_k1": ("test error % k = 1", "paper: test error % k = 1"),
    "test_error_selected": ("test error % selected", "paper: test error % selected"),
    "test_ce_k1": ("test CE (nats) k = 1", "paper: test CE k = 1"),
    "test_ce_selected": ("test CE (nats) selected", "paper: test CE selected"),
}


def _selected(frame: pd.DataFrame) -> list[str]:
    """The selected k, or k schedule, of each row."""
    if frame.empty:
        return []
    return [choice_label(k, sched) for k, sched in zip(frame["selected_k"], frame["selected_schedule"])]


def _human(frame: pd.DataFrame, headers: dict, ks=("selected_k",), digits: int = 2) -> pd.DataFrame:
    """A table as people read it: headers with units, k as fractions, numbers rounded, '–' for missing."""
    out = pd.DataFrame(index=frame.index)
    for column, header in headers.items():
        values = frame[column] if column in frame else pd.Series([None] * len(frame), index=frame.index)
        if column in ks:
            out[header] = values.map(lambda v: v if isinstance(v, str) else choice_label(v))
        elif column in CELL or column in ("seed", "seeds"):
            out[header] = values.map(lambda v: dash(v, "{:g}") if isinstance(v, float) else dash(v, "{}"))
        elif column.endswith("_lr"):
            out[header] = values.map(lambda v: dash(v, "{:g}"))
        else:
            out[header] = values.map(lambda v, c=column: dash(v, "{:.3f}" if "_ce" in c else f"{{:.{digits}f}}"))
    return out


def _published() -> None:
    paper = paper_tables()
    for table, part in paper.groupby("table"):
        st.markdown(f"**Table {table}**" + (" (only the selected k is given for these cells)"
                                            if part["test_error_k1"].isna().all() else ""))
        st.dataframe(_human(part, PUBLISHED), hide_index=True, key=f"paper_published_{table}")


def ours_beside_paper(table: pd.DataFrame):
    """Ours beside the paper's, headed in words; a value is coloured where it differs from the paper by more
    than our spread over seeds (core.study.paper.compare_with_paper's *_beyond)."""
    out = _human(table, {**CELL, "seeds": "seeds"})
    out["selected k (per seed)"] = [f"{k} ({counts_label(c)})" for k, c in zip(_selected(table), table["k_counts"])]
    out["paper's k"] = table.get("paper_selected_k", pd.Series([None] * len(table))).map(choice_label).to_numpy()
    for m, (ours, theirs) in COMPARED.items():
        fmt = "{:.3f}" if "_ce" in m else "{:.2f}"
        out[ours] = [mean_std(a, b, fmt) for a, b in zip(table[m], table[f"{m}_std"])]
        out[theirs] = table.get(f"paper_{m}", pd.Series([None] * len(table))).map(lambda v, f=fmt: dash(v, f)).to_numpy()
    out["selected − k = 1, test error (points) [95% CI]"] = [
        MISSING if d != d else f"{d:+.2f}" + ("" if lo != lo else f" [{lo:+.2f}, {hi:+.2f}]")
        for d, lo, hi in zip(table["diff_test_error"], table["diff_test_error_lo"], table["diff_test_error_hi"])]

    def colour(frame: pd.DataFrame) -> pd.DataFrame:
        css = pd.DataFrame("", index=frame.index, columns=frame.columns)
        for m, (ours, _) in COMPARED.items():
            if f"{m}_beyond" in table:
                css.loc[table[f"{m}_beyond"].fillna(False).astype(bool).to_numpy(), ours] = "background-color: #fde0c5"
        return css

    return out.style.apply(colour, axis=None)


def _read_report(pick: str) -> StudyReport | None:
    lab = get_lab()
    kind, _, ref = pick.partition(":")
    if kind == "example":
        return StudyReport.from_json(json.loads(EXAMPLES[ref].read_text()))
    study = study_from_store(lab.store, ref)
    return make_report(study, load_study(lab.store, study), seconds=training_seconds(lab.store, study))


def progress_line(study: StudyConfig, stored: bool, report: StudyReport) -> None:
    """What the study is and how far it got, as the store says now; Resume for a stopped study."""
    lab = get_lab()
    st.caption(f"{len(study.cells)} cell(s) · k ∈ {{{choices_label(study)}}} · "
               f"lr ∈ {{{', '.join(f'{lr:g}' for lr in study.lrs)}}} · {len(study.seeds)} seed(s) · at most "
               f"{study.epochs} epochs, patience {study.patience} · training images {study.n_train or 'all'} · "
               f"{report.runs_done}/{report.runs_total} runs finished"
               + (f" · {fmt_seconds(report.seconds)} of training" if report.seconds else ""))
    if not stored:
        return
    active = any(next(iter(j.meta.get("configs", {}).values()), {}).get("study", {}).get("id") == study.id
                 for j in lab.jobs.active(kind=KIND))
    todo = missing_runs(lab.store, study)
    if todo and not active:
        expected, bound = estimate_study(study, todo, calibrated())
        c1, c2 = st.columns([1, 4])
        if c1.button("Resume", key=f"paper_resume_{study.id}", type="primary"):
            _launch(study)
            st.rerun()
        c2.caption(f"{len(todo)} of {len(study.runs())} runs are not finished (stopped, failed or never started). "
                   f"Resume trains only those: about {_bound(expected)} (at most {_bound(bound)}) here.")


def cell_view(report: StudyReport, pick: str) -> None:
    """Selected k against depth, and one cell's (k, lr) surface; the cell picker belongs to this study."""
    a, b = st.columns(2)
    a.plotly_chart(plots.study_depth(report.table, report.per_seed), key="paper_depth")
    cells = report.table.apply(lambda r: f"{PAPER_NAMES.get(r.dataset, r.dataset)} · {int(r.layers)} × "
                               f"{int(r.width)} · momentum {r.momentum:g}", axis=1).tolist()
    choice = b.selectbox("Cell", range(len(cells)), format_func=lambda i: cells[i], key=f"paper_cell_{pick}")
    row = report.table.iloc[choice]
    surface = report.surfaces
    if not surface.empty:
        part = surface[(surface["dataset"] == row.dataset) & (surface["layers"] == row.layers)
                       & (surface["width"] == row.width) & (surface["momentum"] == row.momentum)]
        b.plotly_chart(plots.study_surface(part, f"Validation error over (k, lr): {cells[choice]}",
                                           selected=(_selected(report.table)[choice], row.selected_lr),
                                           baseline=("1", row.k1_lr)),
                       key="paper_surface")


def report_view(pick: str) -> None:
    """The chosen study: how far it got, ours beside the paper, the figures, per-seed choices, the CSV."""
    try:
        report = _read_report(pick)
    except (KeyError, ValueError, OSError) as exc:
        st.error(f"Cannot read this study: {exc}")
        return
    study = report.study
    progress_line(study, pick.startswith("store:"), report)
    for note in dict.fromkeys(report.notes):  # one line per cell, once
        st.info(note)
    if report.table.empty:
        st.info("No cell has finished runs of k = 1 and another k yet.")
        return
    st.markdown("**Ours beside the paper** (mean ± std over seeds; orange: differs from the paper by more than our "
                "spread over seeds; the last column pairs seeds, selected minus k = 1, with its 95% interval)")
    st.dataframe(ours_beside_paper(report.table), hide_index=True, key="paper_ours")
    cell_view(report, pick)
    with st.expander("Per-seed choices (the protocol run on each seed alone)"):
        st.dataframe(_human(report.per_seed.assign(selected_k=_selected(report.per_seed)), PER_SEED),
                     hide_index=True, key="paper_per_seed")
    export = ours_beside_paper(report.table).data
    st.download_button("Download the table (CSV)", export.to_csv(index=False), f"study_{study.id}.csv", "text/csv",
                       key="paper_csv")


def results() -> None:
    """Pick a study (labels name it, never its progress) and show it; while its runs train, this part
    redraws every 2 s from the store, so counts, tables and figures stay current."""
    lab = get_lab()
    st.subheader("Results")
    studies = studies_in_store(lab.store)
    options = {f"store:{r.id}": f"study {r.id} {r.name or ''} · {int(r.runs)} runs" for r in studies.itertuples()}
    options |= {f"example:{name}": f"bundled result: {name} (assets/{name}.json)" for name in EXAMPLES}
    if not options:
        st.info("No study yet. Press **MNIST 1 layer** above to start one; meanwhile, here are the published tables.")
        _published()
        return
    pick = pick_saved("Study", options, "paper_pick")
    active = bool(lab.jobs.active(kind=KIND)) or lab.store.count_runs(kind=KIND, status="running") > 0

    @st.fragment(run_every=2.0 if active and pick.startswith("store:") else None)
    def view() -> None:
        report_view(pick)

    view()
    with st.expander("The published tables (Tables 1, 3, 4)", expanded=studies.empty):
        _published()


def main() -> None:
    intro()
    launch()
    live_jobs(KIND, key="paper", title="Training now")
    results()


main()
