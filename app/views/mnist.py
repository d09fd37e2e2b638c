"""MNIST runs: launch MLP trainings with any k from the browser, watch them live, compare saved runs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from app import plots
from app.live import calibrated, executor_choice, live_jobs, outside_runs
from app.state import fmt_seconds, get_lab, session_id
from app.widgets import LEARNING_RATES, k_values, number_list, pick_saved, preset_type
from core.curves import format_k
from core.device import available_devices
from core.engine.queue import QueueFullError
from core.engine.status import ACTIVE, DONE, RUNNING
from core.estimate import estimate_mnist
from core.mlp import ACTIVATIONS, parse_widths
from core.mnist import ConfigError, DataConfig, TrainConfig
from core.mnist.task import load as load_results, submit as submit_mnist
from core.mnist.selection import select
from core.results import config_keys, dash, export_table, group_runs, latest_values, unique_labels, varying

ROOT = Path(__file__).resolve().parents[2]

PS = dict(persist_state="session")
# What the Quick preset gave, shown before the first run: `python -m core.mnist train --k 0.5 1 --lr 0.1 --epochs 3
# --n-train 10000 --momentum 0.5 --threads 1 --csv ...` on the shared 2-core CPU, trimmed to these columns.
EXAMPLE = ROOT / "assets" / "examples" / "mnist_quick.csv"
LR_OPTIONS = ["0.003", "0.01", "0.03", "0.1", "0.3", "1"]
PRESETS = {
    "quick": dict(hidden="800", k=["1/2", "1"], lr=["0.1"], epochs=3, seeds=1, n_train=10_000, momentum=0.5),
    "paper": dict(hidden="800", k=["1/4", "1/2", "1", "2"], lr=["0.01", "0.03", "0.1", "0.3"], epochs=10, seeds=1,
                  n_train=50_000, momentum=0.5),
    "deep": dict(hidden="800,800,800", k=["1/2", "1", "2"], lr=["0.03", "0.1"], epochs=10, seeds=1, n_train=50_000,
                 momentum=0.9),
}


def _preset_values(name: str) -> dict:
    """The form's values a preset sets (widget key -> value)."""
    p = PRESETS[name]
    return {"mnist_hidden": p["hidden"], "mnist_k": p["k"], "mnist_lr": p["lr"], "mnist_epochs": p["epochs"],
            "mnist_seeds": p["seeds"], "mnist_ntrain": p["n_train"], "mnist_momentum": p["momentum"],
            "mnist_activation": "relu", "mnist_wd": 0.0, "mnist_clip": 100.0}


def _preset(name: str) -> None:
    """A preset fills the form and launches it (presets start runs on every page)."""
    st.session_state["mnist_autolaunch"] = True
    st.session_state.update(_preset_values(name))


def _kind(name: str) -> str:
    """A preset's button is highlighted only while the form holds exactly its values (untouched: Quick's)."""
    return preset_type(_preset_values(name), _preset_values("quick"))


def intro() -> None:
    st.title("MNIST runs")
    st.markdown("Train multilayer perceptrons on MNIST with the pseudo-gradient of any k (Section 6 of the paper): "
                "SGD with momentum, minibatch 128, gradient clipping at 100, Glorot-initialized hidden layers and a "
                "zero-initialized softmax layer. All configurations of one launch train together as one batched model. "
                "Every epoch is saved as it finishes, so runs survive a restart of the app.")


def _grid(hidden_text, activation, momentum, epochs, k_pick, lr_pick, schedule, seeds, n_train, wd, clip, device):
    """The form's values as (configs, data, None), or ([], None, why they cannot launch) in the user's words."""
    ks, lrs = k_pick.values, lr_pick.values
    try:
        if not 1 <= seeds <= 10 or seeds != int(seeds):
            raise ConfigError(f"seeds per setting must be a whole number from 1 to 10; got {seeds:g}")
        if not 500 <= n_train <= 50_000 or n_train != int(n_train):
            raise ConfigError(f"training images must be a whole number from 500 to 50,000; got {n_train:g}")
        if epochs != int(epochs):
            raise ConfigError(f"epochs must be a whole number; got {epochs:g}")
        if k_pick.blocked or lr_pick.blocked:
            raise ConfigError("correct or clear the k values or learning rates marked in red above")
        if not (ks or schedule) or not lrs:
            raise ConfigError("choose at least one k and one learning rate")
        hidden = parse_widths(hidden_text)
        methods = [{"k_schedule": schedule}] if schedule else [{"k": k} for k in ks]
        configs = [TrainConfig(hidden=hidden, activation=activation, lr=lr, momentum=momentum, weight_decay=wd,
                               clip_norm=clip, epochs=int(epochs), seed=s, **method)
                   for method in methods for lr in lrs for s in range(int(seeds))]
        return configs, DataConfig(n_train=int(n_train), device=device), None
    except (ConfigError, ValueError) as exc:
        return [], None, str(exc)


def launch_form() -> None:
    """The launch form: presets, the grid, the estimate, Launch."""
    lab = get_lab()
    with st.container(border=True):
        st.markdown("**Launch**")
        c1, c2, c3, c4 = st.columns([1, 1.3, 1.3, 2.4])
        c1.button("Quick", key="mnist_quick", on_click=_preset, args=("quick",), type=_kind("quick"),
                  help="784-800-10, k ∈ {1/2, 1}, 10,000 training images, 3 epochs: learns within a minute on a CPU")
        c2.button("Paper: 1 × 800", key="mnist_paper", on_click=_preset, args=("paper",), type=_kind("paper"),
                  help="784-800-10, momentum 0.5, k ∈ {1/4, 1/2, 1, 2} × lr ∈ {0.01, 0.03, 0.1, 0.3}, full data")
        c3.button("Paper: 3 × 800", key="mnist_deep", on_click=_preset, args=("deep",), type=_kind("deep"),
                  help="3 hidden layers of 800, momentum 0.9: the paper expects the best k near or above 1")
        c4.caption("A preset fills the form below and launches it at once.")
        a, b, c, d = st.columns(4)
        hidden_text = a.text_input("Hidden widths", "800", key="mnist_hidden", **PS, help="e.g. 800, or 400,400,400")
        activation = b.selectbox("Activation", list(ACTIVATIONS), key="mnist_activation", **PS)
        momentum = c.number_input("Momentum", value=0.5, step=0.1, key="mnist_momentum", **PS)
        epochs = d.number_input("Epochs", value=3, step=1, key="mnist_epochs", **PS)
        k_pick = k_values("k values", key="mnist_k", default=PRESETS["quick"]["k"], persist=True)
        lr_pick = number_list("Learning rates (tune per k: k changes the update scale)", "mnist_lr", LEARNING_RATES,
                              default=PRESETS["quick"]["lr"], choices=LR_OPTIONS, persist=True,
                              add_label="Add a learning rate")
        ks, lrs = k_pick.values, lr_pick.values
        schedule = st.text_input("k schedule (optional; replaces the k values)", "", key="mnist_k_schedule", **PS,
                                 help="k over training (core.schedule), e.g. linear:1/4:2 (from 1/4 to 2), "
                                      "cosine:2:1/4, step:1/4@0,2@0.5").strip()
        a, b, c, d, e = st.columns(5)
        seeds = a.number_input("Seeds per setting", value=1, step=1, key="mnist_seeds", **PS)
        n_train = b.number_input("Training images", value=10_000, step=5000, key="mnist_ntrain", **PS,
                                 help="The first n of the 50,000 training images; validation and test use all 10,000.")
        wd = c.number_input("Weight decay", value=0.0, format="%.5f", key="mnist_wd", **PS)
        clip = d.number_input("Clip gradient norm at", value=100.0, key="mnist_clip", **PS)
        device = e.selectbox("Device", ["auto", *available_devices()], key="mnist_device", **PS)

        configs, data, error = _grid(hidden_text, activation, momentum, epochs, k_pick, lr_pick, schedule, seeds,
                                     n_train, wd, clip, device)
        executor, executor_error = executor_choice("mnist")
        error = error or executor_error
        c1, c2 = st.columns([1, 5])
        launch = c1.button("Launch", key="mnist_launch", type="primary", disabled=bool(error))
        if error:
            c2.error(f"Cannot launch: {error}")
        else:
            c2.caption(f"{len(configs)} run(s) = {1 if schedule else len(ks)} k × {len(lrs)} learning rate(s) × {int(seeds)} seed(s) · "
                       f"{configs[0].arch} · about {fmt_seconds(estimate_mnist(configs, data, calibrated(device)))} on "
                       f"{data.device if device != 'auto' else available_devices()[0]}")
        if (launch or st.session_state.pop("mnist_autolaunch", False)) and not error:
            try:
                launched = submit_mnist(lab, configs, data, owner=session_id(), executor=executor)
                st.session_state["mnist_sel"] = launched.run_ids
                st.toast(f"Queued {len(launched.run_ids)} run(s).")
            except (ConfigError, ValueError, QueueFullError) as exc:
                c2.error(f"Cannot launch: {exc}")
        st.session_state.pop("mnist_autolaunch", None)


HEADERS = {"val_error": "validation error (%)", "test_error": "test error (%)", "val_ce": "validation cross-entropy (nats)",
           "test_ce": "test cross-entropy (nats)", "at_chance": "at chance"}
NUMBER_FORMATS = {h: st.column_config.NumberColumn(format="%.2f" if h.endswith("(%)") else "%.4f")
                  for h in HEADERS.values() if h != "at chance"}
SEED = "cfg.train.seed"
SHOWN_FORMATS = {"validation error (%)": "{:.2f}", "test error (%)": "{:.2f}", "test cross-entropy (nats)": "{:.4f}",
                 "time (s)": "{:.1f}", "device": "{}"}  # the history table's columns as text
HISTORY_LIMIT = 500  # the newest runs the history lists (older ones stay in the store and the CLI)
# configuration columns a comparison line may differ in, as its legend names them (k is the x axis)
SERIES_NAMES = {"cfg.train.lr": "lr", "cfg.train.hidden": "network 784-…-10:", "cfg.train.momentum": "momentum",
                "cfg.train.epochs": "epochs", "cfg.data.n_train": "images", "cfg.train.activation": "",
                "cfg.train.weight_decay": "weight decay", "cfg.train.clip_norm": "clip", "cfg.train.batch_size": "batch",
                "cfg.train.k_schedule": "k schedule"}
# the page's CSV: store column -> header (errors in %, as the page shows them)
EXPORT = {"run_id": "run", "label": "run label", "status": "status", "cfg.train.k": "k", "cfg.train.lr": "learning rate",
          "cfg.train.seed": "seed", "network": "network", "epoch": "epoch", "train_loss": "training loss (nats)",
          "val_error": "validation error (%)", "test_error": "test error (%)", "test_ce": "test cross-entropy (nats)",
          "elapsed": "elapsed (s)"}


def readable(frame: pd.DataFrame) -> pd.DataFrame:
    """A selection table as shown: k as format_k writes it, errors in %, headers with units."""
    out = frame.copy()
    if "k" in out:
        if "method" in out:  # 'k=0.5' -> 'k = 1/2'
            out["method"] = [plots.objective_name(f"k = {m}", k) if str(m).startswith("k=") else m
                             for m, k in zip(out["method"], out["k"])]
        out["k"] = [format_k(float(k)) if pd.notna(k) else "–" for k in out["k"]]
    for col in ("val_error", "test_error"):
        if col in out:
            out[col] = 100 * out[col].astype(float)
    return out.rename(columns=HEADERS)


def run_label(train: dict) -> str:
    """A run as every page writes it: 'k = 1/2 · lr 0.1 · seed 0'."""
    return f"k = {format_k(train['k'])} · lr {train['lr']:g} · seed {train['seed']}"


def network(hidden) -> str:
    return "784-" + "-".join(str(w) for w in hidden) + "-10"


def labelled(runs: pd.DataFrame) -> pd.DataFrame:
    """The store's runs with a network column and a label unique among them (run number where two collide)."""
    runs = runs.copy()
    runs["arch"] = runs["cfg.train.hidden"].map(network)
    texts = [run_label({"k": k, "lr": lr, "seed": s})
             for k, lr, s in zip(runs["cfg.train.k"], runs["cfg.train.lr"], runs[SEED])]
    runs["label"] = unique_labels(texts, list(runs["id"]))
    return runs


# ----------------------------------------------------------------------------- live jobs
def draw_live(job) -> None:
    """Live curves of a running job, from the job itself (no database read per poll)."""
    rows = [{"run_id": rid, **row} for rid, curve in job.data.get("curves", {}).items() for row in curve]
    if not rows:
        return
    history = pd.DataFrame(rows)
    configs = job.meta["configs"]
    ids = list(job.meta["labels"])
    labels = dict(zip(ids, unique_labels([run_label(configs[rid]["train"]) for rid in ids], ids)))
    ks = {rid: configs[rid]["train"]["k"] for rid in labels}
    a, b = st.columns(2)
    a.plotly_chart(plots.run_curves(history, labels, "val_error", "Validation error (live)", "validation error (%)",
                                    ks, percent=True), key=f"mnist_live_val_{job.id}")
    b.plotly_chart(plots.run_curves(history, labels, "train_loss", "Training loss (live)", "cross-entropy (nats)", ks),
                   key=f"mnist_live_loss_{job.id}")


def draw_outside(ids: list[int]) -> None:
    """Live curves of runs another process is training, from the store."""
    lab = get_lab()
    history = lab.store.history(ids)
    if history.empty:
        st.info("They have not finished an epoch yet.")
        return
    runs = labelled(lab.store.list_runs(kind="mnist")).set_index("id").loc[ids]
    labels, ks = runs["label"].to_dict(), runs["cfg.train.k"].to_dict()
    a, b = st.columns(2)
    a.plotly_chart(plots.run_curves(history, labels, "val_error", "Validation error (live)", "validation error (%)",
                                    ks, percent=True), key="mnist_outside_val")
    b.plotly_chart(plots.run_curves(history, labels, "train_loss", "Training loss (live)", "cross-entropy (nats)", ks),
                   key="mnist_outside_loss")


# ----------------------------------------------------------------------------- history
def example() -> None:
    """Before the first run: what the Quick preset gave (bundled)."""
    st.info("No MNIST runs yet: press **Quick** to see a network learn within a minute. Below: what Quick gave "
            "on a shared 2-core CPU (an example bundled with the lab, not one of your runs).")
    frame = pd.read_csv(EXAMPLE)
    ex_labels = {int(r.run_id): run_label(r._asdict()) for r in frame.drop_duplicates("run_id").itertuples()}
    ex_k = dict(zip(frame["run_id"], frame["k"]))
    a, b = st.columns(2)
    a.plotly_chart(plots.run_curves(frame, ex_labels, "val_error", "Example: validation error", "validation error (%)",
                                    ex_k, percent=True), key="mnist_example_val")
    b.plotly_chart(plots.run_curves(frame, ex_labels, "test_ce", "Example: test cross-entropy", "cross-entropy (nats)",
                                    ex_k), key="mnist_example_ce")
    st.caption(f"The Quick preset: 784-800-10 on 10,000 training images, lr 0.1, momentum 0.5, 3 epochs: "
               f"{frame['elapsed'].max():.0f} s for both runs. After 3 epochs k = 1/2 and cross-entropy reach "
               "the same error; k = 1/2 ends with a higher test cross-entropy (it is not trained to minimize it).")


def export_csv(store, ids: list[int]) -> str:
    """This page's CSV: one row per (run, epoch), only the MNIST columns, errors in % as shown here."""
    history = store.history(ids)
    runs = labelled(store.list_runs(kind="mnist", ids=ids)).rename(columns={"id": "run_id", "arch": "network"})
    frame = history.merge(runs, on="run_id", how="left")
    frame["cfg.train.k"] = frame["cfg.train.k"].map(lambda k: format_k(float(k)) if pd.notna(k) else "–")
    return export_table(frame, EXPORT, percent=("val_error", "test_error")).to_csv(index=False)


def history_table(runs: pd.DataFrame) -> list[int]:
    """Warnings, the filterable table of every run (status and epochs as the store has them now) and the
    picker; returns the selected run ids."""
    lab = get_lab()
    for r in runs[runs["status"] == "failed"].head(3).itertuples():
        st.error(f"Run #{r.id} ({r.label}) failed: {r.error}")
    chance = runs[runs.get("final.at_chance", pd.Series(False, index=runs.index)).fillna(False).astype(bool)]
    if len(chance):
        st.warning(f"{len(chance)} run(s) ended at chance level (they learned nothing, e.g. a learning rate far too "
                   f"large): {', '.join('#' + str(i) for i in chance['id'].head(8))}. The selection protocol skips them.")
    c1, c2 = st.columns([1, 2])
    statuses = c1.multiselect("Status", sorted(runs["status"].unique()), key="mnist_status", **PS)
    search = c2.text_input("Filter by label or network (e.g. k = 1/2, lr 0.1, 784-800)", key="mnist_search", **PS)
    shown = runs[runs["status"].isin(statuses)] if statuses else runs
    if search:
        shown = shown[shown["label"].str.contains(search, regex=False) | shown["arch"].str.contains(search, regex=False)]
    table = shown.reindex(columns=["id", "label", "arch", "status", "epochs_done", "final.val_error",
                                   "final.test_error", "final.test_ce", "device", "seconds", "created_at"])
    for col in ("final.val_error", "final.test_error"):
        table[col] = 100 * table[col]
    table = table.rename(columns={
        "id": "#", "label": "run", "arch": "network", "epochs_done": "epochs", "final.val_error": "validation error (%)",
        "final.test_error": "test error (%)", "final.test_ce": "test cross-entropy (nats)", "seconds": "time (s)",
        "created_at": "started"})
    for column, fmt in SHOWN_FORMATS.items():  # as text: a missing value reads '–' (the grid would say None)
        table[column] = table[column].map(lambda v, f=fmt: dash(v, f))
    st.dataframe(table, hide_index=True, key="mnist_table")
    labels = {int(r.id): f"#{r.id} {r.label} · {r.arch}" for r in runs.itertuples()}
    trained = runs[runs["epochs_done"] > 0]
    newest = (trained if len(trained) else runs).iloc[0]["group_id"]  # default: the newest launch with epochs
    selected = pick_saved("Runs to compare, export or delete", labels, "mnist_sel", multi=True,
                          default=[int(i) for i in runs.loc[runs["group_id"] == newest, "id"]])
    c1, c2, c3, _ = st.columns([1.6, 1.3, 1.6, 2.5])
    c1.download_button("Export selected (CSV)", lambda: export_csv(lab.store, selected), "mnist_runs.csv",
                       "text/csv", key="mnist_export", disabled=not selected)  # built only when clicked
    c3.checkbox("Yes, delete them", key="mnist_confirm")
    c2.button("Delete selected", key="mnist_delete", disabled=not selected, on_click=_delete, args=(selected,))
    if "mnist_delete_msg" in st.session_state:
        st.info(st.session_state.pop("mnist_delete_msg"))
    return selected


def _delete(ids: list[int]) -> None:
    """Delete the runs and disarm the confirmation, so the next selection is not armed already."""
    lab = get_lab()
    status = lab.store.list_runs(kind="mnist", ids=ids).set_index("id")["status"]
    if any(status.get(i) in ACTIVE for i in ids):
        st.session_state["mnist_delete_msg"] = "Stop the job first: some selected runs are still training."
    elif not st.session_state.get("mnist_confirm"):
        st.session_state["mnist_delete_msg"] = "Tick 'Yes, delete them' to confirm."
    else:
        lab.store.delete_runs(ids)
        st.session_state.pop("mnist_sel", None)
        st.session_state["mnist_delete_msg"] = f"Deleted {len(ids)} run(s)."
    st.session_state["mnist_confirm"] = False


# ----------------------------------------------------------------------------- comparison
def comparison(runs: pd.DataFrame, selected: list[int]) -> None:
    """Curves of the selected runs (running ones included, as far as they got), their final test error
    against k grouped by configuration (mean ± std over seeds), and the selection protocol."""
    lab = get_lab()
    st.subheader("Comparison")
    history = lab.store.history(selected)
    if history.empty:
        st.info("The selected runs have no finished epoch yet: their curves appear here as epochs are saved.")
        return
    sel = runs.set_index("id").loc[selected].reset_index()
    labels, ks = dict(zip(sel["id"], sel["label"])), dict(zip(sel["id"], sel["cfg.train.k"]))
    a, b = st.columns(2)
    a.plotly_chart(plots.run_curves(history, labels, "val_error", "Validation error", "validation error (%)", ks,
                                    percent=True), key="mnist_cmp_val")
    b.plotly_chart(plots.run_curves(history, labels, "test_ce", "Test cross-entropy", "cross-entropy (nats)", ks),
                   key="mnist_cmp_ce")
    live = sel["status"].isin(ACTIVE).any()
    per_run = latest_values(sel, history, ["test_error"])
    res = group_runs(per_run, config_keys(sel, seed=SEED), ["test_error"], seed=SEED,
                     counted=(DONE, RUNNING) if live else (DONE,))
    a, b = st.columns(2)
    if res.groups["n"].sum():
        series = {c: SERIES_NAMES.get(c, c.split(".")[-1]) for c in varying(res.groups, res.keys) if c != "cfg.train.k"}
        a.plotly_chart(plots.final_vs_k(res.groups, "test_error", "Final test error against k", "test error (%)",
                                        k="cfg.train.k", series=series,
                                        subtitle="mean ± std over seeds" + ("; running runs: latest epoch" if live
                                                                            else "; finished runs only")),
                       key="mnist_cmp_k")
        left = res.left_out
        if left:
            a.caption("Left out of the means: " + ", ".join(f"{n} {s}" for s, n in left.items()) + " run(s).")
    try:
        choice = select(load_results(lab.store, selected))
        b.markdown("**The paper's selection protocol** (lr per k on validation, then k on validation):")
        b.dataframe(readable(choice.summary().rename(index={"k=1 (cross-entropy)": "best k = 1 (cross-entropy)"})),
                    key="mnist_select_summary", column_config=NUMBER_FORMATS)
        with b.expander("Every (k, lr) cell, averaged over seeds"):
            st.dataframe(readable(choice.table), hide_index=True, key="mnist_select_table", column_config=NUMBER_FORMATS)
    except (ConfigError, ValueError):
        b.info("The selection protocol needs finished runs: it picks a learning rate per k, then k, on validation "
               "error. Select runs that have ended (done or diverged).")


def history() -> None:
    """History and comparison, drawn from the store; while any MNIST run is queued or running this part
    redraws every second, so statuses, epochs and the comparison never lag the live view."""
    lab = get_lab()
    active = lab.store.count_runs(kind="mnist", status=list(ACTIVE)) > 0

    @st.fragment(run_every=1.0 if active else None)
    def view() -> None:
        runs = lab.store.list_runs(kind="mnist", limit=HISTORY_LIMIT)  # redrawn every second while runs train
        if runs.empty:
            example()
            return
        if active and not runs["status"].isin(ACTIVE).any():
            st.rerun()  # the last run ended: redraw the page once, without polling
        runs = labelled(runs)
        selected = history_table(runs)
        if selected:
            comparison(runs, selected)

    view()


def main() -> None:
    intro()
    launch_form()
    live_jobs("mnist", draw_live, key="mnist", title="Training now")
    outside_runs("mnist", draw_outside, key="mnist")
    st.subheader("History")
    history()


main()
