"""The paper's 1-D toy threshold experiment (Section 5.1), run live in the background."""

from __future__ import annotations

import dataclasses

import pandas as pd
import streamlit as st

from app import plots
from app.state import fmt_seconds, get_lab, k_values
from core.curves import format_k
from core.device import available_devices
from core.toy import ToyConfig, ToyConfigError, population_limit

lab = get_lab()
PAPER = ToyConfig()
K_OPTIONS = ["1/16", "1/8", "1/4", "1/2", "1", "2", "4", "8"]
PRESETS = {
    "paper": dict(ks=["4", "2", "1", "1/2", "1/4", "1/8", "1/16"], runs=10, n=30_000, patience=3000),
    "quick": dict(ks=["4", "1", "1/4", "1/16"], runs=3, n=5_000, patience=1000),
}
PS = dict(persist_state="session")  # settings survive a page switch


def _preset(name: str) -> None:
    p = PRESETS[name]
    st.session_state.update({"toy_k": p["ks"], "toy_runs": p["runs"], "toy_n": p["n"], "toy_patience": p["patience"],
                             "toy_lr": PAPER.lr, "toy_alpha": PAPER.alpha, "toy_noise": 0.0, "toy_tol": PAPER.tol,
                             "toy_reduction": "mean"})
    st.session_state["toy_autostart"] = True


@st.cache_data(show_spinner="Computing the population limit (n → ∞)…")
def _population(alpha: float, label_noise: float) -> pd.DataFrame:
    return population_limit(alpha=alpha, label_noise=label_noise)


st.title("Toy experiment: where does the threshold go?")
st.markdown(
    "A model that can only learn a threshold rule sees labels **+1 on [0, α]** and −1 elsewhere. The best "
    "threshold is 0 (test error (1 − α)/2 = 2.5% for α = 0.95), but the points in (α, 1] can never be right for a "
    "threshold near 0. **Cross-entropy keeps pushing on those large, hopeless errors and drags the threshold "
    "away from 0; a small k weighs them like any other error, so the threshold stays close to 0 and the test "
    "error drops.** This reproduces Section 5.1 of the paper, with every number adjustable."
)

# ----------------------------------------------------------------------------- settings
with st.container(border=True):
    c1, c2, c3 = st.columns([1, 1, 3])
    c1.button("Paper protocol", key="toy_paper", on_click=_preset, args=("paper",), type="primary",
              help="7 k values × 10 runs × 30,000 points, 3000-epoch stopping window (about a minute on 2 CPU cores)")
    c2.button("Quick look", key="toy_quick", on_click=_preset, args=("quick",),
              help="4 k values × 3 runs × 5,000 points: a few seconds")
    c3.caption("A preset fills the settings and starts a run. Or adjust the settings and press Run.")
    ks = k_values("k values", key="toy_k", default=PRESETS["paper"]["ks"], options=K_OPTIONS, **PS)
    a, b, c, d = st.columns(4)
    runs = a.number_input("Runs (data draws)", 1, 50, PAPER.runs, key="toy_runs", **PS)
    n = b.number_input("Points per split (train = val = test)", 100, 200_000, PAPER.n_train, step=1000, key="toy_n", **PS)
    lr = c.number_input("Learning rate", 1e-5, 10.0, PAPER.lr, format="%.4f", key="toy_lr", **PS)
    reduction = d.selectbox("Batch gradient", ["mean", "sum"], key="toy_reduction", **PS,
                            help="The paper does not say; 'sum' makes the step 30,000× larger.")
    with st.expander("More settings"):
        a, b, c, d = st.columns(4)
        alpha = a.number_input("α (right end of the +1 interval)", 0.05, 0.99, PAPER.alpha, 0.01, key="toy_alpha", **PS)
        noise = b.number_input("Training label noise (fraction flipped)", 0.0, 0.45, 0.0, 0.05, key="toy_noise", **PS)
        patience = c.number_input("Stopping window (epochs)", 10, 100_000, PAPER.patience, step=100, key="toy_patience", **PS)
        tol = d.number_input("Stopping tolerance (percentage points)", 0.0, 10.0, PAPER.tol, format="%.4f", key="toy_tol", **PS)
        a, b, c, _ = st.columns(4)
        max_epochs = a.number_input("Max epochs per run", 100, 5_000_000, PAPER.max_epochs, step=10_000, key="toy_max", **PS)
        seed = b.number_input("Seed", 0, 2**31 - 1, 0, key="toy_seed", **PS)
        device = c.selectbox("Device", ["auto", *available_devices()], key="toy_device", **PS)

active = lab.jobs.active(kind="toy")
start = st.button("Run", key="toy_run", disabled=bool(active) or not ks) or st.session_state.pop("toy_autostart", False)
if start and not active:
    try:
        cfg = ToyConfig(ks=tuple(sorted(ks, reverse=True)), runs=int(runs), n_train=int(n), n_val=int(n), n_test=int(n),
                        lr=float(lr), reduction=reduction, alpha=float(alpha), label_noise=float(noise),
                        patience=int(patience), tol=float(tol), max_epochs=int(max_epochs), seed=int(seed), device=device)
        if not ks:
            raise ToyConfigError("choose at least one k")
        job, run_id = lab.submit_toy(cfg)
        st.session_state["toy_pick"] = run_id  # show the new run below once it ends
        active = lab.jobs.active(kind="toy")
    except (ToyConfigError, ValueError) as exc:
        st.error(f"Cannot start: {exc}")


# ----------------------------------------------------------------------------- live view
@st.fragment(run_every=0.5 if active else None)
def live() -> None:
    jobs = lab.jobs.active(kind="toy")
    if not jobs:
        if st.session_state.pop("toy_was_live", False):
            st.rerun()  # the run ended: redraw the whole page with its results
        return
    st.session_state["toy_was_live"] = True
    job = jobs[0]
    st.subheader("Running")
    if job.status == "queued":
        st.info(f"Queued behind {job.queue_position} job(s) on {job.device}.")
    c1, c2 = st.columns([5, 1])
    c1.progress(job.fraction or 0.0, text=f"{job.message or 'starting…'} · elapsed {fmt_seconds(job.elapsed_s)} · "
                                           f"time left ≈ {fmt_seconds(job.eta_s)}")
    if c2.button("Stop", key="toy_stop", type="secondary", disabled=job.cancel_requested):
        lab.jobs.cancel(job.id)
        st.toast("Stopping… the finished part is kept.")
    live_data = job.data.get("live")
    if live_data is None:
        return
    snap, trace = live_data.snapshot, live_data.trace
    st.plotly_chart(plots.toy_distribution(live_data.alpha, snap.frame()), key="toy_live_dist")
    a, b = st.columns(2)
    a.plotly_chart(plots.toy_trace(trace, "val_error", "Validation error while training", "validation error (%)"),
                   key="toy_live_val")
    b.plotly_chart(plots.toy_trace(trace, "threshold", "Threshold t = −b/w while training", "threshold"),
                   key="toy_live_thr")


live()

# ----------------------------------------------------------------------------- results
saved = lab.store.list_runs(kind="toy")
st.subheader("Results")
if saved.empty:
    st.info("No toy runs yet. Press **Quick look** for a run of a few seconds, or **Paper protocol** for the full one.")
    st.plotly_chart(plots.toy_distribution(PAPER.alpha), key="toy_dist_intro")
    st.stop()

labels = {int(r.id): f"#{r.id} · {r.label} · {r.created_at:%Y-%m-%d %H:%M}" for r in saved.itertuples()}
if st.session_state.get("toy_pick") not in labels:
    st.session_state.pop("toy_pick", None)  # deleted or never chosen: show the newest
view_id = st.selectbox("Saved toy runs (newest first; they survive a restart)", list(labels), format_func=labels.get,
                       key="toy_pick")
res = lab.load_toy(view_id)
st.caption(f"Status: **{res.status}**" + (f" · {res.elapsed_s:.1f} s on {res.device}" if res.elapsed_s else ""))
if res.status in ("running", "queued"):
    st.info("This run is still in progress: see its live view above.")
    st.stop()
if res.status == "failed":
    st.error(f"This run failed: {res.error}")
if res.status == "interrupted":
    st.warning("This run was interrupted (the app stopped while it trained); no result was saved.")
if res.per_k.empty:
    st.stop()

cfg = res.config or PAPER
if res.status == "stopped":
    st.warning("Stopped before every run met the stopping rule: the table uses each run's last epoch.")
hit = int(res.per_run.get("hit_max_epochs", pd.Series(dtype=bool)).sum())
if hit:
    st.warning(f"{hit} run(s) hit the cap of {cfg.max_epochs:,} epochs before the stopping rule; their numbers are at the cap.")
pop = _population(cfg.alpha, cfg.label_noise)
st.plotly_chart(plots.toy_distribution(cfg.alpha, res.per_run[["k", "threshold"]], cfg.label_noise), key="toy_dist_final")
a, b = st.columns(2)
a.plotly_chart(plots.toy_vs_k(res.per_k, "test_error", "Test error against k", "test error (%)", pop, "error"),
               key="toy_err_k")
b.plotly_chart(plots.toy_vs_k(res.per_k, "test_ce", "Test cross-entropy against k", "test cross-entropy (nats)", pop, "ce"),
               key="toy_ce_k")
st.caption("Points: mean ± std over runs. Dotted: the population limit, where gradient descent on the *expected* "
           "pseudo-gradient under D converges (no sampling noise). The paper: test error rises with k, while "
           "test cross-entropy is not monotone in k.")
table = res.per_k.sort_values("k", ascending=False).assign(k=lambda d: d["k"].map(format_k))
st.dataframe(table, hide_index=True, key="toy_table", column_config={
    c: st.column_config.NumberColumn(format="%.0f" if c.startswith("epochs") else "%.4f")
    for c in table.columns if c.endswith(("_mean", "_std"))})
d1, d2, _ = st.columns([1, 1, 3])
d1.download_button("Per-k table (CSV)", res.per_k.to_csv(index=False), f"toy_{view_id}_per_k.csv", "text/csv",
                   key="toy_dl_k")
d2.download_button("Per-run table (CSV)", res.per_run.to_csv(index=False), f"toy_{view_id}_per_run.csv", "text/csv",
                   key="toy_dl_run")
if not res.history.empty:
    with st.expander("Training curves of this run"):
        a, b = st.columns(2)
        a.plotly_chart(plots.toy_trace(res.history, "val_error", "Validation error", "validation error (%)"), key="toy_h_val")
        b.plotly_chart(plots.toy_trace(res.history, "threshold", "Threshold", "threshold"), key="toy_h_thr")
with st.expander("Settings of this run"):
    st.json(dataclasses.asdict(cfg) if res.config else lab.store.get_run(view_id)["config"])
