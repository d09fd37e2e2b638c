"""The label-noise comparison's form: presets, data, noise, objectives, sizes, and what it launches.

What: `settings()` draws the form and returns what it holds; `build(form)` turns it into
("toy", ToyConfigs, None) or ("mnist", TrainConfigs, DataConfig), or a ValueError in the user's words;
`estimate_line(form)` is the caption's run count and time; `start(form, ...)` queues it as one launch.

Why apart from the page: the form is one idea; the live view and the saved comparisons are another.
"""

from __future__ import annotations

from types import SimpleNamespace

import streamlit as st

from app.live import calibrated
from app.state import fmt_seconds, get_lab, session_id
from app.widgets import NOISE_RATES, k_values, number_list
from core.curves import format_k
from core.engine.queue import QueueFullError
from core.estimate import estimate_mnist, estimate_toy
from core.losses import ObjectiveSpec
from core.mlp import parse_widths
from core.mnist import DataConfig, TrainConfig
from core.mnist.task import submit as submit_mnist
from core.noise import (
    DEFAULT_MOMENTUM, UNHINGED_WEIGHT_DECAY, Method, comparison_configs, default_lr, toy_configs,
)
from core.noise.summary import TOY_TAG
from core.toy import ToyConfig
from core.toy.task import submit_group as submit_toy_group, toy_label

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


def _objectives(toy: bool) -> tuple[list[ObjectiveSpec], list[str]]:
    """The other objectives' checkboxes and parameters: the chosen ones, and a message per unusable parameter."""
    chosen: list[ObjectiveSpec] = []
    param_errors = []
    for col, (name, (label, params)) in zip(st.columns(len(OTHERS)), OTHERS.items()):
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
    return chosen, param_errors


def _optimizer(chosen: list[ObjectiveSpec], ks: list[float]) -> tuple:
    """The "Optimizer and data" expander of an MNIST comparison: (lr mode, lr for all, momentum, test images,
    weight decay, weight decay for unhinged), with the default learning rates it would use."""
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
    return lr_mode, lr_all, momentum, n_test, wd, wd_unhinged


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
        chosen, param_errors = _objectives(toy)
        a, b, c, d = st.columns(4)
        seeds = a.number_input("Seeds (toy: data draws)", 1, 10, 2, key="noise_seeds", **PS)
        if toy:
            toy_n = b.number_input("Points per split", 200, 200_000, 10_000, step=1000, key="noise_toy_n", **PS)
            patience = c.number_input("Stopping window (epochs)", 10, 100_000, 1000, step=100, key="noise_toy_patience", **PS)
        else:
            hidden_text = b.text_input("Hidden widths", "256", key="noise_hidden", **PS, help="e.g. 256, or 400 400")
            epochs = c.number_input("Epochs", 1, 200, 8, key="noise_epochs", **PS)
            n_train = d.number_input("Training images", 100, 50_000, 5_000, step=1000, key="noise_n_train", **PS)
            lr_mode, lr_all, momentum, n_test, wd, wd_unhinged = _optimizer(chosen, ks)
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
    cal = calibrated()
    seconds = sum(estimate_toy(c, cal) for c in configs) if kind == "toy" else estimate_mnist(configs, data, cal)
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
