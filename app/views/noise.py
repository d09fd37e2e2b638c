"""Label noise: the k family against the noise-robust losses, on MNIST or the 1-D toy, run in the background.

Thin skin over core.noise: the form (app/views/noise_form.py) -> comparison_configs / toy_configs ->
core.mnist.task.submit_mnist(kind="noise") or core.toy.task.submit_toy per rate -> core.noise.summarize /
curves / summarize_toy -> app.plots figures.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from app import plots
from app.live import executor_choice, live_jobs
from app.state import get_lab
from app.views.noise_form import estimate_line, settings, start
from app.widgets import pick_saved
from core.curves import parse_k
from core.engine.status import ACTIVE
from core.mnist.task import live_results, load as load_results
from core.noise import curves, format_table, summarize, summarize_toy
from core.noise.summary import TOY_TAG, saved_comparisons
from core.results import export_table
from core.toy.task import load as load_toy

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "assets" / "noise_results.md"  # measured comparisons; its last table is the Quick preset's

HEADERS = {"rate": "noise rate", "lr": "learning rate", "weight_decay": "weight decay",
           "test acc %": "test accuracy (%)", "test CE": "test cross-entropy (nats)",
           "fit noisy %": "fit to noisy labels (%)", "fit true %": "fit to true labels (%)",
           "memorized %": "memorized (%)", "corrected %": "corrected (%)"}

_METRICS = {"test_acc": "test accuracy (%)", "test_ce": "test cross-entropy (nats)",
            "train_acc_noisy": "fit to noisy labels (%)", "train_acc_true": "fit to true labels (%)",
            "memorized": "memorized (%)", "corrected": "corrected (%)"}
# the page's CSVs: table column -> header with unit (fractions written in %, as the page shows them)
MNIST_EXPORT = {"objective": "objective", "rate": "noise rate (%)", "lr": "learning rate",
                "weight_decay": "weight decay", "seeds": "runs", "n": "runs averaged", "diverged": "diverged",
                "stopped": "stopped", **{f"{m}_{s}": f"{h}, {s}" for m, h in _METRICS.items() for s in ("mean", "std")}}
MNIST_PERCENT = ["rate"] + [f"{m}_{s}" for m in _METRICS if m != "test_ce" for s in ("mean", "std")]
TOY_EXPORT = {"objective": "objective", "rate": "noise rate (%)", "runs": "runs averaged",
              "test_error_mean": "test error (%), mean", "test_error_std": "test error (%), std",
              "test_ce_mean": "test cross-entropy (nats), mean", "test_ce_std": "test cross-entropy (nats), std",
              "threshold_mean": "threshold, mean", "threshold_std": "threshold, std", "epochs_mean": "epochs, mean"}
TOY_PERCENT = ["rate", "test_error_mean", "test_error_std"]


def shown_table(table: pd.DataFrame) -> pd.DataFrame:
    """core.noise.format_table as the page shows it: k written as on every page, headers with units."""
    out = format_table(table)
    out["objective"] = [plots.objective_name(o, k) for o, k in zip(table["objective"], table["k"])]
    return out.rename(columns=HEADERS)


@st.cache_data(show_spinner=False)
def example_table() -> pd.DataFrame:
    """The Quick preset's result bundled in assets/noise_results.md (its last table), as plots.final_bars reads it."""
    lines = [line for line in EXAMPLE.read_text().splitlines() if line.startswith("| ")]
    start = max(i for i, line in enumerate(lines) if line.startswith("| objective"))
    rows = []
    for line in lines[start + 1:]:
        name, _, acc = [c.strip() for c in line.strip().strip("|").split("|")][:3]
        mean, std = (float(v) / 100 for v in acc.replace("*", "").split("±"))
        k = parse_k(name[4:]) if name.startswith("k = ") else 1.0 if name == "CE" else float("nan")
        rows.append(dict(objective=name, method=name, k=k, rate=0.4, test_acc_mean=mean, test_acc_std=std))
    return pd.DataFrame(rows)


def _ours(job) -> bool:
    """A job of this page: an MNIST comparison (kind 'noise') or one of its toy runs."""
    return job.kind == "noise" or job.name.startswith(TOY_TAG)


def intro() -> None:
    st.title("Label noise: is a small k robust to wrong labels?")
    st.markdown(
        "A fraction of the **training** labels is flipped (symmetric: to a uniformly chosen other class; asymmetric: "
        "7→1, 2→7, 5↔6, 3→8); the test labels stay clean. As k → 0 the pseudo-gradient becomes the gradient of the "
        "**unhinged** loss, a symmetric and provably noise-robust loss; k = 1 is cross-entropy. So k interpolates "
        "between the two. This page compares the k family with the noise-robust losses of the literature "
        "(GCE, SCE, NCE+RCE, MAE, focal, unhinged) on MNIST or on the 1-D toy, and shows how much of the noise each "
        "network **memorizes**. The same comparison runs from the command line: `python -m core.noise --help`."
    )


# ----------------------------------------------------------------------------- live view
def draw_live(job) -> None:
    """The running comparison's curves, from the job's own live data (no database read per poll)."""
    if job.kind != "noise":
        return
    cv = curves(live_results(job.meta["configs"], job.data.get("curves", {}), job.data.get("statuses", {})))
    if cv.empty:
        return
    rate = max(cv["rate"])
    a, b = st.columns(2)
    a.plotly_chart(plots.accuracy_curves(cv, rate), key=f"noise_live_acc_{job.id}")
    b.plotly_chart(plots.memorization(cv, rate), key=f"noise_live_mem_{job.id}")
    if rate > 0:
        st.caption(VALIDATION_NOTE.format(rate=rate))


VALIDATION_NOTE = ("The validation error in the progress line is measured on validation labels flipped like the "
                   "training ones ({rate:.0%}), so even a perfect classifier scores about {rate:.0%} there; the clean "
                   "figure is the test accuracy above (test labels are never flipped).")
TOY_NOISE_NOTE = ("Why noise can lower the toy's test error: flipping labels at random turns some of the hopeless "
                  "points in (α, 1] into +1, which cancels part of their pull on the threshold, while flips on both "
                  "sides of 0 balance out; so the threshold drifts less from 0 and the clean test error falls.")


# ----------------------------------------------------------------------------- saved comparisons
def empty_state() -> None:
    st.info("No label-noise comparisons yet. Press **Quick: 40% symmetric, MNIST** for a run of 1-3 minutes, or "
            "**Toy: 0/20/40% noise** for one of a few seconds. Below: what Quick gave on a shared 2-core CPU "
            "(an example bundled with the lab, not one of your runs).")
    st.plotly_chart(plots.final_bars(example_table(), 0.4, title="Example: final clean test accuracy"),
                    key="noise_example")
    st.caption("784-256-10 on 5,000 training images, 8 epochs, 2 seeds: 177 s. In so short a training no method "
               "memorizes the flips yet, so k < 1 and cross-entropy reach the same accuracy; GCE is ahead. The "
               "command, the full table and a longer run: assets/noise_results.md.")


def status_line(runs: pd.DataFrame) -> None:
    """The comparison's status as the store has it now, and what stopped or diverged runs mean here."""
    counts = runs["status"].value_counts().to_dict()
    st.caption("Status: " + ", ".join(f"{n} **{s}**" for s, n in counts.items()))
    if set(counts) & set(ACTIVE):
        st.info("Still training: the live view above updates, and this section with it.")
    left = sum(counts.get(s, 0) for s in ("stopped", "failed", "interrupted"))
    if left:
        st.warning(f"{left} run(s) ended before their last epoch (stopped, failed or interrupted): they are left out "
                   "of the means and counted in the table's 'stopped' column; the curves show how far they got.")
    if counts.get("diverged"):
        st.warning(f"{counts['diverged']} run(s) diverged (train cross-entropy above 1000 or non-finite weights); "
                   "they count in the table's 'diverged' column and are left out of the means.")


def toy_results(ids: list[int], key: str) -> None:
    """A toy comparison: test error against k per noise rate, and against the rate."""
    saved = [load_toy(get_lab().store, i) for i in ids]
    table = summarize_toy(saved)
    if table.empty:
        return
    st.plotly_chart(plots.toy_error_vs_k(table), key="noise_toy_k")
    if table["rate"].nunique() > 1:
        st.plotly_chart(plots.accuracy_vs_rate(table, "test_error", "test error (%)",
                                               "Toy: test error against the noise rate"), key="noise_toy_rate")
        st.caption(TOY_NOISE_NOTE)
    st.dataframe(shown_table(table), hide_index=True, key="noise_table")
    st.download_button("Table (CSV)", export_table(table, TOY_EXPORT, percent=TOY_PERCENT).to_csv(index=False),
                       f"noise_toy_{key}.csv", "text/csv", key="noise_dl_table")


def mnist_results(ids: list[int], key: str) -> None:
    """An MNIST comparison: curves, final bars, memorization, accuracy against the rate, the table."""
    lab = get_lab()
    results = load_results(lab.store, ids)
    table, cv = summarize(results), curves(results)
    if cv.empty:
        return
    rates = sorted(cv["rate"].unique())
    rate = rates[-1]
    if len(rates) > 1:
        rate = st.selectbox("Noise rate for the training curves", rates, index=len(rates) - 1, key="noise_rate_view",
                            format_func=lambda r: f"{r:.0%}")
    a, b = st.columns(2)
    a.plotly_chart(plots.accuracy_curves(cv, rate), key="noise_acc")
    b.plotly_chart(plots.final_bars(table, rate), key="noise_bars")
    if rate > 0:
        a, b = st.columns(2)
        a.plotly_chart(plots.memorization(cv, rate), key="noise_mem")
        b.plotly_chart(plots.memorized_curves(cv, rate), key="noise_memorized")
        st.caption("Fit to the noisy labels against fit to the true labels, on the training set: a robust model "
                   "climbs toward the star (all true labels right, every flip ignored); one that memorizes the noise "
                   "drifts right and down toward the diagonal. " + VALIDATION_NOTE.format(rate=rate))
    if len(rates) > 1:
        st.plotly_chart(plots.accuracy_vs_rate(table), key="noise_vs_rate")
    st.markdown("**Final epoch, mean ± std over seeds** (accuracies in %, cross-entropy in nats; finished runs only)")
    st.dataframe(shown_table(table), hide_index=True, key="noise_table")
    d1, d2, _ = st.columns([1, 1, 3])
    d1.download_button("Table (CSV)", export_table(table, MNIST_EXPORT, percent=MNIST_PERCENT).to_csv(index=False),
                       f"noise_{key}_table.csv", "text/csv", key="noise_dl_table")
    d2.download_button("Every epoch of every run (CSV)", lambda: epochs_csv(ids), f"noise_{key}_epochs.csv",
                       "text/csv", key="noise_dl_epochs")
    with st.expander("Settings of this comparison"):
        st.json(lab.store.get_run(ids[0])["config"])


EPOCHS_EXPORT = {"run_id": "run", "label": "run label", "status": "status", "cfg.train.noise.rate": "noise rate (%)",
                 "cfg.train.lr": "learning rate", "cfg.train.seed": "seed", "epoch": "epoch",
                 "train_loss": "training loss (nats)", "val_error": "validation error on noisy labels (%)",
                 "test_error": "test error (%)", "test_ce": "test cross-entropy (nats)",
                 "train_acc_noisy": "fit to noisy labels (%)", "train_acc_true": "fit to true labels (%)",
                 "memorized": "memorized (%)", "corrected": "corrected (%)"}


def epochs_csv(ids: list[int]) -> str:
    """Every epoch of the comparison's runs, with this page's columns only, fractions in %."""
    store = get_lab().store
    runs = store.list_runs(kind="noise", ids=ids).rename(columns={"id": "run_id"})
    frame = store.history(ids).merge(runs, on="run_id", how="left")
    percent = ["cfg.train.noise.rate", "val_error", "test_error", "train_acc_noisy", "train_acc_true", "memorized",
               "corrected"]
    return export_table(frame, EPOCHS_EXPORT, percent=percent).to_csv(index=False)


def saved() -> None:
    """Pick a saved comparison (labels say what it is, never its status) and show it; while any of its
    runs trains, this part redraws every second from the store."""
    lab = get_lab()
    entries = {e["key"]: e for e in saved_comparisons(lab.store)}
    if not entries:
        empty_state()
        return
    pick = pick_saved("Saved comparisons (newest first; they survive a restart)",
                      {k: f"{e['label']} · {e['created']:%Y-%m-%d %H:%M}" for k, e in entries.items()}, "noise_pick")
    ids = entries[pick]["ids"]
    kind = "noise" if pick.startswith("mnist:") else "toy"
    active = not lab.store.list_runs(kind=kind, status=list(ACTIVE), ids=ids).empty

    @st.fragment(run_every=1.0 if active else None)
    def view() -> None:
        runs = lab.store.list_runs(kind=kind, ids=ids)
        if active and not runs["status"].isin(ACTIVE).any():
            st.rerun()  # it ended: redraw once with the final tables, then stop polling
        status_line(runs)
        (toy_results if kind == "toy" else mnist_results)(ids, pick.split(":", 1)[1])

    view()


def main() -> None:
    intro()
    form = settings()
    executor, executor_error = executor_choice("noise")
    c1, c2 = st.columns([1, 5])
    run = c1.button("Run", key="noise_run", type="primary")
    line = estimate_line(form)
    if line:
        c2.caption(line)
    if run or st.session_state.pop("noise_autostart", False):
        start(form, executor, executor_error)
    live_jobs(("noise", "toy"), draw_live, key="noise", match=_ours)
    st.subheader("Results")
    saved()


main()
