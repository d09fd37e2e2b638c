"""The Example lens's launch form and its URL: presets, settings, Launch, and the link that reopens a view.

What: `read_url()` (once per session) puts usable URL values into the widgets' state and names each
unusable one; `set_defaults()` fills what is missing; `launch_form()` draws the form and submits a
DatamapConfig through the Lab; `write_url()` writes every setting back. `EXAMPLE_ID` is the bundled
result's launch id.

Why apart from the page: the form and the URL rules are one idea; what the page shows is another.
"""

from __future__ import annotations

import streamlit as st

from app.live import executor_choice
from app.state import fmt_seconds, get_lab, session_id
from app.widgets import k_values
from core.curves import format_k, parse_k
from core.data import dataset_names
from core.datamap import metrics
from core.datamap.experiment import DatamapConfig, estimate_seconds, submit_datamap
from core.engine.queue import QueueFullError
from core.labelnoise import NoiseSpec
from core.mnist.config import ConfigError

EXAMPLE_ID = "example"  # the bundled result's launch id (assets/datamap_example.npz)
NOISE_KINDS = ("none", "symmetric", "asymmetric")
PRESETS = {  # what a preset puts in the form (and launches)
    "quick": dict(ds="mnist", noise="symmetric", rate=0.4, k=["1/4", "1"], ntrain=4000, epochs=10, seed=0, lr=0.03),
    "fashion": dict(ds="fashion-mnist", noise="none", rate=0.0, k=["1/4", "1"], ntrain=4000, epochs=10, seed=0,
                    lr=0.03),
}
FORM = PRESETS["quick"]
MAX_RATE, MIN_LR, MAX_LR = 0.95, 0.0001, 10.0  # the form's limits (a URL value outside them is refused)


def _int_in(lo: int, hi: int):
    def read(text: str) -> int:
        value = int(text)
        if not lo <= value <= hi:
            raise ValueError
        return value
    return read


def _one_of(options):
    def read(text: str) -> str:
        if text not in options:
            raise ValueError
        return text
    return read


def _rate(text: str) -> float:
    value = float(text)
    if not 0 <= value <= MAX_RATE:
        raise ValueError
    return value


def _lr(text: str) -> float:
    value = float(text)
    if not MIN_LR <= value <= MAX_LR:
        raise ValueError
    return value


def _launch_id(text: str) -> str:
    if text != EXAMPLE_ID and not (len(text) == 8 and all(c in "0123456789abcdef" for c in text)):
        raise ValueError
    return text


URL = {  # URL parameter -> (reader raising ValueError, rule said when it cannot be used)
    "launch": (_launch_id, "a launch id (8 hex digits) or 'example'"),
    "score": (_one_of(tuple(metrics.RANKINGS)), "one of " + ", ".join(metrics.RANKINGS)),
    "gk": (lambda t: format_k(parse_k(t)), "a k value, e.g. 1/4"),
    "n": (_int_in(4, 48), "a whole number from 4 to 48"),
    "img": (_int_in(0, 10**6), "an image number"),
    "ds": (_one_of(dataset_names()), "one of " + ", ".join(dataset_names())),
    "noise": (_one_of(NOISE_KINDS), "none, symmetric or asymmetric"),
    "rate": (_rate, f"a number from 0 to {MAX_RATE}"),
    "ntrain": (_int_in(500, 50_000), "a whole number from 500 to 50,000"),
    "epochs": (_int_in(2, 50), "a whole number from 2 to 50"),
    "seed": (_int_in(0, 10**6), "a whole number from 0 to 1,000,000"),
    "lr": (_lr, f"a number from {MIN_LR:g} to {MAX_LR:g}"),
}


def read_url() -> None:
    """Once per session, before the widgets: usable URL values go into the widgets' state; each
    unusable one is named in a warning (and the default is shown)."""
    if st.session_state.get("dm_url_read"):
        return
    st.session_state["dm_url_read"] = True
    notes = []
    for key, (read, rule) in URL.items():
        if key in st.query_params:
            try:
                st.session_state[f"dm_{key}"] = read(st.query_params[key])
            except (ValueError, TypeError, ZeroDivisionError, OverflowError):
                notes.append(f"`{key}={st.query_params[key]}` cannot be used ({key} must be {rule}); showing the "
                             "default instead.")
    st.session_state["dm_url_notes"] = notes


def set_defaults() -> None:
    """Every widget's value lives in session state (set here when missing), so no widget is given both a
    default and a state value."""
    for key in ("ds", "noise", "rate", "ntrain", "epochs", "seed", "lr"):
        st.session_state.setdefault(f"dm_{key}", FORM[key])
    st.session_state.setdefault("dm_score", "confidence")
    st.session_state.setdefault("dm_n", 12)


def write_url() -> None:
    """Every setting back into the URL, so the link reopens this view."""
    for key in URL:
        value = st.session_state.get(f"dm_{key}")
        if value is not None and st.query_params.get(key) != str(value):
            st.query_params[key] = str(value)


def _preset(name: str) -> None:
    p = PRESETS[name]
    st.session_state.update({f"dm_{key}": value for key, value in p.items() if key != "k"})
    st.session_state["dm_k"] = list(p["k"])
    st.session_state["dm_autolaunch"] = True


def launch_form() -> None:
    """The form: presets, settings, Launch (runs go through the Lab like every page's)."""
    with st.container(border=True):
        st.markdown("**Launch**")
        c1, c2, c3 = st.columns([1.4, 1.6, 3])
        c1.button("Quick: MNIST, 40% noise", key="dm_quick", type="primary", on_click=_preset, args=("quick",),
                  help="k ∈ {1/4, 1}, 4,000 images, 40% of labels flipped, 10 epochs: about a minute on 2 CPU cores")
        c2.button("Fashion-MNIST, clean labels", key="dm_fashion", on_click=_preset, args=("fashion",),
                  help="The same without noise: which real images does each k find hard?")
        c3.caption("A preset fills the form and launches it at once. Every k starts from the same weights and "
                   "sees the same images in the same order.")
        a, b, c, d = st.columns(4)
        ds = a.selectbox("Data set", dataset_names(), key="dm_ds")
        noise = b.selectbox("Label noise", NOISE_KINDS, key="dm_noise")
        rate = c.number_input("Noise rate", 0.0, MAX_RATE, step=0.05, key="dm_rate", disabled=noise == "none")
        lr = d.number_input("Learning rate", MIN_LR, MAX_LR, format="%g", key="dm_lr",
                            help="One rate for every k (the update's scale changes with k).")
        ks = k_values("k values (one network each)", key="dm_k", default=FORM["k"], url=True)
        a, b, c = st.columns(3)
        n_train = a.number_input("Training images", 500, 50_000, step=500, key="dm_ntrain",
                                 help="The first n of the data set's standard training images.")
        epochs = b.number_input("Epochs", 2, 50, step=1, key="dm_epochs")
        seed = c.number_input("Seed", 0, 10**6, step=1, key="dm_seed")
        executor, problem = executor_choice("dm")
        cfg = None
        try:
            if ks.blocked or not ks.values:
                raise ConfigError("choose at least one k (and correct any entry marked in red)")
            spec = NoiseSpec(noise, 0.0 if noise == "none" else float(rate))
            cfg = DatamapConfig(dataset=ds, noise=spec, ks=tuple(ks.values), lrs=(float(lr),), n_train=int(n_train),
                                epochs=int(epochs), seed=int(seed))
        except (ConfigError, ValueError) as exc:
            problem = problem or str(exc)
        c1, c2 = st.columns([1, 5])
        go = c1.button("Launch", key="dm_launch_button", type="primary", disabled=bool(problem))
        if problem:
            c2.error(f"Cannot launch: {problem}")
        else:
            reference = f" + a {cfg.folds}-fold cross-validated reference for cleanlab" if noise != "none" else ""
            c2.caption(f"{len(cfg.ks)} network(s){reference} · roughly {fmt_seconds(estimate_seconds(cfg))}")
        if (go or st.session_state.pop("dm_autolaunch", False)) and cfg is not None:
            try:
                launched = submit_datamap(get_lab(), cfg, owner=session_id(), executor=executor)
                st.session_state["dm_launch"] = launched.launch_id
                st.toast(f"Queued {len(launched.run_ids)} run(s).")
            except (ConfigError, ValueError, QueueFullError) as exc:
                c2.error(f"Cannot launch: {exc}")
        st.session_state.pop("dm_autolaunch", None)
