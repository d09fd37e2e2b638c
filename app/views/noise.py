"""Label noise: the k family against the noise-robust losses, on MNIST or the 1-D toy, run in the background.

Thin skin over core.noise: widgets -> comparison_configs / toy_configs -> core.mnist.task.submit_mnist(kind="noise")
or core.toy.task.submit_toy per rate -> core.noise.summarize / curves / summarize_toy -> app.plots figures.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import streamlit as st

from app import plots
from app.live import calibrated, executor_choice, live_jobs
from app.state import fmt_seconds, get_lab, session_id
from app.widgets import NOISE_RATES, k_values, number_list, pick_saved
from core.curves import format_k, parse_k
from core.engine.queue import QueueFullError
from core.engine.status import ACTIVE
from core.estimate import estimate_mnist, estimate_toy
from core.losses import ObjectiveSpec
from core.mlp import parse_widths
from core.mnist import DataConfig, TrainConfig
from core.mnist.task import live_results, load as load_results, submit as submit_mnist
from core.noise import (
    DEFAULT_MOMENTUM, UNHINGED_WEIGHT_DECAY, Method, comparison_configs, curves, default_lr, format_table, summarize,
    summarize_toy, toy_configs,
)
from core.noise.summary import TOY_TAG, saved_comparisons
from core.results import export_table
from core.toy import ToyConfig
from core.toy.task import load as load_toy, submit_group as submit_toy_group, toy_label

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "assets" / "noise_results.md"  # measured comparisons; its last table is the Quick preset's

PS = dict(persist_state="session")  # settings survive a page switch
RATE_OPTIONS = ["0", "0.2", "0.4", "0.6", "0.8"]
OTHERS = {  # checkbox key suffix -> (label, parameters with (default, min, max, step))
    "ce": ("Cross-entropy (k = 1)", {}),
    "gce": ("GCE", {"q": (0.7, 0.01, 1.0, 0.05)}),
    "sce": ("SCE", {"alpha": (0.01, 0.0, 10.0, 0.01), "beta": (1.0, 0.0, 10.0, 0.1)}),
    "nce_rce": ("NCE+RCE", {"alpha": (1.0, 0.0, 100.0, 0.5), "beta": (10.0, 0.0, 100.0, 1.0)}),
    "mae": ("MAE", {}),
    "focal": ("Focal", {"gamma": (2.0, 0.0, 10.0, 0.5)}),
    "unhinged": ("Unhinged (the k → 0 limit)", {}),
}
BASE = dict(noise_kind="symmetric", noise_momentum=DEFAULT_MOMENTUM, noise_lr_mode="defaults", noise_lr=0.03,
            noise_wd=0.0, noise_wd_unhinged=UNHINGED_WEIGHT_DECAY, noise_n_test=10_000,
            noise_toy_patience=1000, noise_toy_n=10_000)
PRESETS = {
    "quick": dict(noise_dataset="MNIST", noise_rates=["0.4"], noise_k=["1/4", "1/2"], noise_hidden="256",
                  noise_epochs=8, noise_seeds=2, noise_n_train=5_000,
                  **{f"noise_{o}": o in ("ce", "gce", "sce", "mae", "unhinged") for o in OTHERS}),
    "paper": dict(noise_dataset="MNIST", noise_rates=["0.2", "0.4", "0.6"], noise_k=["1/4", "1/2", "2"],
                  noise_hidden="800", noise_epochs=10, noise_seeds=2, noise_n_train=50_000,
                  **{f"noise_{o}": True for o in OTHERS}),
    "toy": dict(noise_dataset="1-D toy", noise_rates=["0", "0.2", "0.4"], noise_k=["1/16", "1/4", "4"],
                noise_seeds=3, noise_ce=True),
}


def _preset(name: str) -> None:
    st.session_state.update({**BASE, **PRESETS[name]})
    st.session_state["noise_autostart"] = True


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


def settings() -> SimpleNamespace:
    """The comparison's form (presets, data, noise, objectives, sizes); returns what it holds."""
    toy_n = patience = hidden_text = epochs = n_train = lr_all = momentum = n_test = wd = wd_unhinged = None
    lr_mode = "defaults"
    with st.container(border=True):
        c1, c2, c3, c4 = st.columns([1.6, 1.1, 1.3, 2])
        c1.button("Quick: 40% symmetric, MNIST", key="noise_quick", on_click=_preset, args=("quick",), type="primary",
                  help="7 objectives × 2 seeds, 5,000 training images, 784-256-10, 8 epochs: 1-3 minutes on 2 shared CPU cores")
        c2.button("Paper-like (long)", key="noise_paper", on_click=_preset, args=("paper",),
                  help="10 objectives × 3 rates × 2 seeds on all 50,000 images, 784-800-10, 10 epochs: "
                       "about an hour on 2 CPU cores, minutes on a GPU")
        c3.button("Toy: 0/20/40% noise", key="noise_toy_preset", on_click=_preset, args=("toy",),
                  help="k = 4, 1, 1/4, 1/16 × 3 runs × 10,000 points at three noise rates: seconds")
        c4.caption("A preset fills the settings and starts a run. Or adjust the settings and press Run.")
        a, b, _ = st.columns([1, 1, 2])
        dataset = a.radio("Data", ["MNIST", "1-D toy"], key="noise_dataset", horizontal=True, **PS)
        toy = dataset == "1-D toy"
        noise_kind = b.selectbox("Noise", ["symmetric", "asymmetric"], key="noise_kind", disabled=toy, **PS,
                                 help="The toy has two classes: a flipped label always goes to the other one.")
        rate_pick = number_list("Noise rates (fraction of training labels flipped)", "noise_rates", NOISE_RATES,
                                default=["0.4"], choices=RATE_OPTIONS, persist=True, add_label="Add a noise rate")
        k_pick = k_values("k values (pseudo-gradient; cross-entropy, k = 1, is below)", key="noise_k",
                          default=["1/4", "1/2"], exclude=("1",), persist=True)
        ks = k_pick.values
        st.caption("Other objectives" + (" (the toy trains only the k family; cross-entropy is k = 1)" if toy else ""))
        cols = st.columns(len(OTHERS))
        chosen: list[ObjectiveSpec] = []
        param_errors = []
        for col, (name, (label, params)) in zip(cols, OTHERS.items()):
            on = col.checkbox(label, value=name in ("ce", "gce", "sce", "mae", "unhinged"), key=f"noise_{name}",
                              disabled=toy and name != "ce", **PS)
            values = {p: col.number_input(p, lo, hi, default, step, key=f"noise_{name}_{p}", disabled=not on or toy,
                                          format="%.3g", **PS)
                      for p, (default, lo, hi, step) in params.items()}
            if on and (not toy or name == "ce"):
                try:
                    chosen.append(ObjectiveSpec(name, values))
                except ValueError as exc:
                    param_errors.append(str(exc))
        a, b, c, d = st.columns(4)
        seeds = a.number_input("Seeds (toy: data draws)", 1, 10, 2, key="noise_seeds", **PS)
        if toy:
            toy_n = b.number_input("Points per split", 200, 200_000, 10_000, step=1000, key="noise_toy_n", **PS)
            patience = c.number_input("Stopping window (epochs)", 10, 100_000, 1000, step=100, key="noise_toy_patience", **PS)
        else:
            hidden_text = b.text_input("Hidden widths", "256", key="noise_hidden", **PS, help="e.g. 256, or 400 400")
            epochs = c.number_input("Epochs", 1, 200, 8, key="noise_epochs", **PS)
            n_train = d.number_input("Training images", 100, 50_000, 5_000, step=1000, key="noise_n_train", **PS)
            with st.expander("Optimizer and data"):
                a, b, c, d = st.columns(4)
                lr_mode = a.radio("Learning rate", ["defaults", "one for all"], key="noise_lr_mode", **PS,
                                  help="The pseudo-gradient's scale changes with k, and MAE or unhinged need very "
                                       "different step sizes: the defaults are tuned per objective (core.noise.EFFECTIVE_LR).")
                lr_all = b.number_input("Learning rate for all", 1e-5, 10.0, 0.03, format="%.4g", key="noise_lr",
                                        disabled=lr_mode == "defaults", **PS)
                momentum = c.number_input("Momentum", 0.0, 0.99, DEFAULT_MOMENTUM, 0.1, key="noise_momentum", **PS)
                n_test = d.number_input("Test images", 100, 10_000, 10_000, step=1000, key="noise_n_test", **PS)
                a, b, _, _ = st.columns(4)
                wd = a.number_input("Weight decay", 0.0, 1.0, 0.0, format="%.4g", key="noise_wd", **PS)
                wd_unhinged = b.number_input("Weight decay for unhinged", 0.0, 10.0, UNHINGED_WEIGHT_DECAY, format="%.4g",
                                             key="noise_wd_unhinged", **PS,
                                             help="Unhinged is unbounded below: without enough weight decay its logits grow "
                                                  "without end.")
                if lr_mode == "defaults" and chosen + [ObjectiveSpec("tunable", {"k": k}) for k in ks]:
                    st.caption("Default learning rates at this momentum: " + ", ".join(
                        f"{s.label if s.name != 'tunable' else 'k = ' + format_k(s.kwargs['k'])} {default_lr(s, momentum):g}"
                        for s in [ObjectiveSpec("tunable", {"k": k}) for k in ks] + chosen))
    return SimpleNamespace(toy=toy, noise_kind=noise_kind, rate_pick=rate_pick, k_pick=k_pick, ks=ks, chosen=chosen,
                           param_errors=param_errors, seeds=seeds, toy_n=toy_n, patience=patience,
                           hidden_text=hidden_text, epochs=epochs, n_train=n_train, lr_mode=lr_mode, lr_all=lr_all,
                           momentum=momentum, n_test=n_test, wd=wd, wd_unhinged=wd_unhinged)


def build(f: SimpleNamespace):
    """What the form would launch: ("toy", ToyConfigs, None) or ("mnist", TrainConfigs, DataConfig);
    ValueError with the reason when it cannot."""
    if f.param_errors:
        raise ValueError(f.param_errors[0])
    if f.rate_pick.blocked or f.k_pick.blocked:
        raise ValueError("correct or clear the noise rates or k values marked in red above")
    rates = f.rate_pick.values
    if not rates:
        raise ValueError("choose at least one noise rate")
    methods = [Method(ObjectiveSpec("tunable", {"k": k})) for k in f.ks] + [
        Method(s, weight_decay=None if f.toy else (f.wd_unhinged if s.name == "unhinged" else f.wd))
        for s in f.chosen]
    if not methods:
        raise ValueError("choose at least one objective: a k value or one of the other objectives")
    seed_list = list(range(int(f.seeds)))
    if f.toy:
        base = ToyConfig(n_train=int(f.toy_n), n_val=int(f.toy_n), n_test=int(f.toy_n), patience=int(f.patience))
        return "toy", toy_configs(methods, rates, seed_list, base), None
    base = TrainConfig(hidden=parse_widths(f.hidden_text), momentum=float(f.momentum), epochs=int(f.epochs))
    configs = comparison_configs(methods, rates, seed_list, f.noise_kind, base,
                                 lr=None if f.lr_mode == "defaults" else float(f.lr_all))
    data = DataConfig(n_train=int(f.n_train), n_val=2_000, n_test=int(f.n_test), train_eval=min(int(f.n_train), 5_000))
    return "mnist", configs, data


def estimate_line(f: SimpleNamespace) -> str | None:
    """'14 runs · about 2 min 50 s here' for what the form holds (core.estimate), or None."""
    try:
        kind, configs, data = build(f)
    except ValueError:
        return None
    seconds = (sum(estimate_toy(c, calibrated()) for c in configs) if kind == "toy"
               else estimate_mnist(configs, data, calibrated()))
    runs = len(configs) if kind == "mnist" else sum(c.runs * len(c.ks) for c in configs)
    return f"{runs} {'runs' if kind == 'mnist' else 'models'} · about {fmt_seconds(seconds)} here"


def start(f: SimpleNamespace, executor, executor_error: str | None) -> None:
    """Queue the comparison the form holds (one launch: one group id for all its runs)."""
    lab = get_lab()
    try:
        if executor_error:
            raise ValueError(executor_error)
        kind, configs, data = build(f)
        if kind == "toy":
            launched = submit_toy_group(lab, configs, owner=session_id(), executor=executor,
                                        names=[f"{TOY_TAG} · {toy_label(cfg)}" for cfg in configs])
            st.session_state["noise_pick"] = f"toy:{launched.launch_id}"
        else:
            rates = sorted({c.noise.rate for c in configs})
            name = (f"label noise · {f.noise_kind} {', '.join(f'{r:.0%}' for r in rates)} · {len(configs)} runs · "
                    f"{configs[0].arch}")
            launched = submit_mnist(lab, configs, data, owner=session_id(), name=name, kind="noise", executor=executor)
            st.session_state["noise_pick"] = f"mnist:{launched.launch_id}"
    except (ValueError, QueueFullError) as exc:
        st.error(f"Cannot start: {exc}")


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
