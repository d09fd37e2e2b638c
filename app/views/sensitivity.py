"""Sensitivity curves (Figure 2 of the paper, and more). Every setting lives in the URL query string."""

from __future__ import annotations

import streamlit as st

from app import plots
from app.plots.sensitivity import display_name
from app.widgets import k_values
from core.curves import (
    LOGIT_PRESETS,
    REFERENCE_LOSSES,
    curves_frame,
    explore_vector,
    format_k,
    hard_easy_curve,
    hard_easy_ratio,
    matching_k,
    preset_logits,
    reference_ratios,
)

QP = "query-params"  # every widget below is bound to the URL, so a link reopens the same view


# Each chart's data and figure are cached by its settings, so a widget change rebuilds one figure, not three
# (building a Plotly figure costs 50-60 ms here). cache_resource hands out the figure itself: nothing
# below modifies a figure after it is built.
@st.cache_resource(show_spinner=False, max_entries=128)
def _curves(ks: tuple[float, ...], refs: tuple[str, ...], q: float, gamma: float, normalize: bool, log: bool):
    df = curves_frame(list(ks), list(refs), q=q, gamma=gamma, normalize=normalize, log_x=log)
    return plots.update_curves(df, log_axes=log, normalized=normalize)


@st.cache_resource(show_spinner=False, max_entries=128)
def _ratios(ks: tuple[float, ...], refs: tuple[str, ...], hard: float, easy: float, q: float, gamma: float):
    grid, ratios = hard_easy_curve(hard, easy)
    chosen = {k: float(hard_easy_ratio(k, hard, easy)) for k in ks}
    refs_r = {display_name(n): r for n, r in reference_ratios(list(refs), hard, easy, q=q, gamma=gamma).items()}
    return chosen, refs_r, plots.hard_easy(grid, ratios, chosen, refs_r, hard, easy)


@st.cache_resource(show_spinner=False, max_entries=128)
def _vector(logits: tuple[float, ...], target: int, ks: tuple[float, ...]):
    bars, summary = explore_vector(list(logits), target, list(ks))
    return summary, plots.vector_bars(bars, target)


def _apply_preset() -> None:
    """A preset writes its logits into the sliders' state."""
    name = st.session_state.get("preset", "uncertain")
    n_, y_ = st.session_state.get("n", 5), st.session_state.get("y", 1)
    if name != "custom" and y_ < n_:
        for j, v in enumerate(preset_logits(name, n_, y_)):
            st.session_state[f"z{j}"] = v


def _to_custom() -> None:
    st.session_state["preset"] = "custom"


def curves_tab(ks: tuple) -> tuple[list, float, float]:
    """|f_y| against |ε_y| with the chosen overlays; returns the overlays and their parameters."""
    c1, c2, c3, c4 = st.columns([3, 1.2, 1.2, 1.7])
    refs = c1.multiselect("Overlay known losses (their |∂L/∂z_y| at the same |ε_y|)",
                          options=list(REFERENCE_LOSSES), default=["ce", "mae", "gce", "focal"],
                          format_func=lambda n: REFERENCE_LOSSES[n][0], key="ref", bind=QP, wrap=True)
    q = c2.slider("GCE q", 0.05, 1.0, 0.7, 0.05, key="q", bind=QP)
    gamma = c3.slider("Focal γ", 0.0, 5.0, 2.0, 0.5, key="gamma", bind=QP)
    axes = c4.radio("Axes", ["linear", "log-log"], key="axes", bind=QP, horizontal=True)
    normalize = c4.checkbox("Scale each curve to peak 1", value=False, key="norm", bind=QP,
                            help="Only relative sizes matter: the learning rate rescales every curve.")
    st.plotly_chart(_curves(ks, tuple(refs), q, gamma, normalize, axes == "log-log"), key="curves_chart")
    st.markdown(
        "Every k curve passes through (0, 0) and (1, 1). **Larger k bends the curve down**: examples with small "
        "errors barely move the model, hard ones dominate. **Smaller k bends it up**: every wrong-ish example "
        "pushes about equally hard, so a few huge errors (outliers, wrong labels) cannot take over. "
        "MAE and GCE turn *down* again near |ε_y| = 1: they ignore examples that look hopeless."
    )
    return refs, q, gamma


def ratio_tab(ks: tuple, refs: list, q: float, gamma: float) -> None:
    """How much more a hard example moves the model than an easy one, for each k and overlay."""
    c1, c2, _ = st.columns([1, 1, 2])
    hard = c1.number_input("Hard example |ε_y|", 0.5, 0.999, 0.9, 0.05, key="hard", bind=QP)
    easy = c2.number_input("Easy example |ε_y|", 0.001, 0.5, 0.1, 0.05, key="easy", bind=QP)
    if not easy < hard:
        st.error("The easy example's error must be smaller than the hard example's.")
    else:
        chosen, refs_r, ratio_fig = _ratios(ks, tuple(refs or ["ce"]), hard, easy, q, gamma)
        st.plotly_chart(ratio_fig, key="ratio_chart")
        st.markdown(f"With the pseudo-gradient the ratio is $({hard:g}/{easy:g})^k$. Cross-entropy (k = 1) "
                    f"weighs the hard example {hard / easy:.3g}× the easy one.")
        st.dataframe(
            [{"loss": name, "hard / easy weight (×)": plots.times(r)[:-1],
              "k with the same ratio": format_k(float(f"{matching_k(r, hard, easy):.3g}"))}
             for name, r in refs_r.items()]
            + [{"loss": f"pseudo-gradient, k = {format_k(k)}", "hard / easy weight (×)": plots.times(r)[:-1],
                "k with the same ratio": format_k(k)} for k, r in chosen.items()],
            hide_index=True, key="ratio_table",
        )


def vector_tab(ks: tuple) -> None:
    """The full update vector of one example with the logits on the sliders."""
    c1, c2, c3 = st.columns([1, 1, 2])
    n = c1.slider("Number of classes", 2, 10, 5, key="n", bind=QP, on_change=_apply_preset)
    y = c2.selectbox("True class", list(range(n)), index=min(1, n - 1), key="y", bind=QP, on_change=_apply_preset)
    preset = c3.selectbox("Logits", ["custom", *LOGIT_PRESETS], index=3, key="preset", bind=QP,
                          on_change=_apply_preset,
                          help="A preset fills the sliders below; moving a slider switches to 'custom'.")
    if any(f"z{j}" not in st.session_state for j in range(n)):
        _apply_preset()
    if preset != "custom":
        st.caption(f"Preset: {LOGIT_PRESETS[preset]}.")
    cols = st.columns(n)
    logits = []
    for j in range(n):
        st.session_state.setdefault(f"z{j}", 0.0)
        logits.append(cols[j].slider(f"z{j}" + (" (true)" if j == y else ""), -10.0, 10.0, step=0.25,
                                     key=f"z{j}", bind=QP, on_change=_to_custom))
    summary, vector_fig = _vector(tuple(logits), y, ks)
    st.plotly_chart(vector_fig, key="vector_chart")
    worst = float(summary["sum_f"].abs().max())
    st.success(f"Every series sums to 0 over the classes (largest |Σ_j f_j| = {worst:.1e}): a hidden unit wired "
               "with equal weights to all outputs gets no update (Eq. 3 of the paper).")
    st.dataframe(
        summary[["series", "abs_eps_y", "f_y", "sum_f"]]
        .rename(columns={"abs_eps_y": "|ε_y|", "f_y": "f_y", "sum_f": "Σ_j f_j"}),
        hide_index=True, key="vector_table",
        column_config={"Σ_j f_j": st.column_config.NumberColumn(format="%.1e"),
                       "|ε_y|": st.column_config.NumberColumn(format="%.4f"),
                       "f_y": st.column_config.NumberColumn(format="%.4f")},
    )


def main() -> None:
    st.title("Sensitivity curves")
    st.caption("How strongly one example pushes the network, as a function of its error, for each k. "
               "Every setting is stored in the page's URL: copy it to share this exact view.")
    ks = tuple(k_values("k values", key="k", default=["1/16", "1/4", "1/2", "1", "2", "4"], url=True).values)
    if not ks:
        st.warning("Choose at least one k to draw.")
        return

    tab_curves, tab_ratio, tab_vector = st.tabs(
        ["Update size", "Hard vs easy", "Full vector"], key="view", bind=QP
    )
    with tab_curves:
        refs, q, gamma = curves_tab(ks)
    with tab_ratio:
        ratio_tab(ks, refs, q, gamma)
    with tab_vector:
        vector_tab(ks)


main()
