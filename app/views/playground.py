"""Playground: small MLPs on 2-D data, one per k, trained from the same start and animated in the browser.

Thin skin over core.playground: widgets (each bound to the URL) -> PlaygroundConfig -> run_and_record
(cached by config; each training is saved in the run store) -> plots.playground_animation, a Plotly
figure whose frames play in the browser (Play / Pause / slider, no server round trip per frame).
A preset button fills the form and runs it at once; the first visit plays the form's settings.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable

import streamlit as st

from app import plots
from app.widgets import k_values
from core.curves import format_k
from core.device import available_devices
from core.mlp import parse_widths
from core.playground import DATASETS, DataConfig, PlaygroundConfig, PlaygroundConfigError, PlaygroundResult
from core.playground.cli import command_for
from core.playground.presets import DEFAULT_PRESET, PRESETS
from core.playground.runs import last_store_error, run_and_record

QP = "query-params"  # every setting lives in the URL: a link replays the same run
DEFAULT = PRESETS[DEFAULT_PRESET].config
CHART_KEY = "pg_anim"
PER_ROW = ("auto", "all", "1", "2", "3")


def _one_of(choices: Iterable[str]) -> Callable[[str], str]:
    """A URL reader that accepts exactly `choices` (ValueError otherwise)."""
    choices = tuple(choices)

    def read(text: str) -> str:
        if text not in choices:
            raise ValueError(text)
        return text
    return read


# URL parameter -> (reader raising ValueError, what it must be): links are checked before the widgets read
# them, because Streamlit drops a value its widget cannot take without a word.
URL_RULES = {
    "dataset": (_one_of(DATASETS), f"one of {', '.join(DATASETS)}"),
    "points": (int, "a whole number"), "outliers": (int, "a whole number"), "steps": (int, "a whole number"),
    "seed": (int, "a whole number"), "noise": (float, "a number such as 0.2"), "lr": (float, "a number such as 0.03"),
    "act": (_one_of(("tanh", "relu")), "tanh or relu"), "per_row": (_one_of(PER_ROW), ", ".join(PER_ROW)),
}


def _form_values(cfg: PlaygroundConfig) -> dict:
    """Widget state that shows `cfg`."""
    d = cfg.data
    return {"dataset": d.dataset, "points": d.points, "noise": d.label_noise, "outliers": d.outliers,
            "ks": [format_k(k) for k in cfg.ks], "ks_add": "", "hidden": ", ".join(map(str, cfg.hidden)),
            "act": cfg.activation, "lr": cfg.lr, "steps": cfg.steps, "seed": cfg.seed}


def _preset(name: str) -> None:
    """A preset fills the form and runs it (presets start runs on every page)."""
    st.session_state.update(_form_values(PRESETS[name].config))
    st.session_state["pg_run"] = True
    st.session_state["pg_commentary"] = name
    st.session_state.pop("pg_url_notes", None)


def _url_notes() -> list[str]:
    """Warnings for link values that cannot be used (checked once per session, before the widgets read them)."""
    if "pg_url_notes" not in st.session_state:
        notes = []
        for key, (read, rule) in URL_RULES.items():
            if key in st.query_params:
                try:
                    read(st.query_params[key])
                except ValueError:
                    default = _form_values(DEFAULT).get(key, "auto")
                    notes.append(f"`{key}={st.query_params[key]}` ({key} must be {rule}); showing {default} instead")
        st.session_state["pg_url_notes"] = notes
    return st.session_state["pg_url_notes"]


@st.cache_data(show_spinner="Training every k side by side…", max_entries=32)
def _train(cfg: PlaygroundConfig, device: str) -> tuple[PlaygroundResult, int | None, str | None]:
    """One training per (config, device) per server: a repeated preset replays without training again."""
    result, run_id = run_and_record(cfg, device=device, threads=1, label=f"playground: {cfg.data.dataset}, k = "
                                    + ", ".join(format_k(k) for k in cfg.ks))
    return result, run_id, last_store_error()


@st.cache_resource(show_spinner=False, max_entries=16)
def _figure(cfg: PlaygroundConfig, device: str, per_row: int | None, token: str):
    """The animated figure of a cached run (built once: ~0.2 s of Python for 40 frames)."""
    result = _train(cfg, device)[0]
    fig = plots.playground_animation(result, per_row=per_row)
    fig.update_layout(meta=token)  # the autoplay script below starts the chart carrying this token
    return fig


def _autoplay(token: str) -> None:
    """Press the chart's Play button once the chart carrying `token` is on screen (once per new run)."""
    st.html(f"""<script>
(() => {{
  const start = performance.now();
  const tick = () => {{  // every animation frame, for up to 20 s: press Play as soon as the new chart is drawn
    const gd = document.querySelector('.st-key-{CHART_KEY} .js-plotly-plot');
    const play = gd && gd.layout && gd.layout.meta === '{token}' && gd.querySelector('.updatemenu-button');
    if (play) {{
      if (gd.dataset.autoplayed !== '{token}') {{
        gd.dataset.autoplayed = '{token}';
        play.dispatchEvent(new MouseEvent('click', {{bubbles: true}}));
      }}
    }} else if (performance.now() - start < 20000) {{
      requestAnimationFrame(tick);
    }}
  }};
  tick();
}})();
</script>""", unsafe_allow_javascript=True, width="content")


def _read_form() -> tuple[PlaygroundConfig | None, list[str], str, int | None]:
    """The settings widgets -> (config or None, problems, device, panels per row)."""
    problems = []
    c1, c2, c3, c4 = st.columns(4)
    dataset = c1.selectbox("Data set", DATASETS, index=DATASETS.index(DEFAULT.data.dataset), key="dataset", bind=QP)
    points = c2.number_input("Training points", value=DEFAULT.data.points, step=50, key="points", bind=QP)
    noise = c3.number_input("Label noise (fraction flipped)", value=DEFAULT.data.label_noise, step=0.05,
                            format="%g", key="noise", bind=QP, help="A fraction of the training labels, flipped "
                            "at random (× markers). The test set stays clean.")
    outliers = c4.number_input("Outliers", value=DEFAULT.data.outliers, step=5, key="outliers", bind=QP,
                               help="Extra training points far from the data, each labelled with the class that is "
                                    "NOT there (◆ markers): the 'large errors' of the paper.")
    picked = k_values("k values (one panel each; k = 1 is cross-entropy)", key="ks",
                      default=[format_k(k) for k in DEFAULT.ks], url=True)
    if picked.rejected:
        problems.append("fix the k value in “Add a k value”")
    elif not picked.values:
        problems.append("choose at least one k")
    with st.expander("Network, training and display"):
        c1, c2, c3, c4 = st.columns(4)
        hidden = c1.text_input("Hidden widths", value=", ".join(map(str, DEFAULT.hidden)), key="hidden", bind=QP,
                               help="e.g. 16, 16: two hidden layers of 16 units")
        act = c2.selectbox("Activation", ("tanh", "relu"), key="act", bind=QP)
        lr = c3.number_input("Adam learning rate (every k)", value=DEFAULT.lr, step=0.01, format="%g", key="lr",
                             bind=QP, help="Adam divides out the pseudo-gradient's overall size, so one rate fits all k.")
        steps = c4.number_input("Steps", value=DEFAULT.steps, step=100, key="steps", bind=QP)
        c1, c2, c3, _ = st.columns(4)
        seed = c1.number_input("Seed", value=DEFAULT.seed, step=1, key="seed", bind=QP)
        per_row = c2.selectbox("Panels per row", PER_ROW, key="per_row", bind=QP,
                               help="auto: one per row on a phone, all side by side otherwise")
        device = c3.selectbox("Device", ["auto", *available_devices()], key="device")
    try:
        widths = parse_widths(hidden, max_width=256, max_layers=4)
    except ValueError as exc:
        problems.append(str(exc))
        widths = None
    cfg = None
    if not problems:
        try:
            whole = {"points": points, "outliers": outliers, "steps": steps, "seed": seed}
            bad = [name for name, v in whole.items() if v is None or v != int(v)]
            if bad:
                raise PlaygroundConfigError(f"{', '.join(bad)} must be whole numbers")
            data = DataConfig(dataset, points=int(points), label_noise=float(noise), outliers=int(outliers),
                              seed=int(seed))
            cfg = PlaygroundConfig(data=data, ks=tuple(picked.values), hidden=widths, activation=act, lr=float(lr),
                                   steps=int(steps), seed=int(seed))
        except (PlaygroundConfigError, TypeError) as exc:
            problems.append(str(exc))
    if per_row == "auto":  # a phone's browser says "Mobile" in its user agent
        per_row = "1" if "Mobi" in (st.context.headers.get("User-Agent") or "") else "all"
    return cfg, problems, device, None if per_row == "all" else int(per_row)


# ----------------------------------------------------------------------------- page
st.title("Playground: what k does to each point")
st.markdown(
    "One small network per k learns to separate red from blue points, all from the **same starting weights on "
    "the same data**. **Marker size = how hard that point pushes its network right now** (|f_y|, relative to the "
    "panel's average): cross-entropy (k = 1) lets the worst errors push hardest, small k lets every wrong point "
    "push about equally, large k listens to the worst few.")

for note in _url_notes():
    st.warning(f"The link's {note}.")

cols = st.columns(len(PRESETS))
current = st.session_state.get("pg_commentary", DEFAULT_PRESET if "pg_shown" not in st.session_state else None)
for col, (name, preset) in zip(cols, PRESETS.items()):
    col.button(preset.title, key=f"pg_preset_{name}", on_click=_preset, args=(name,), help=preset.commentary,
               type="primary" if name == current else "secondary", width="stretch")
chart_area = st.container()  # filled below, once the settings are read: the animation comes first on screen

with st.container(border=True):
    st.markdown("**Settings** (a preset fills them; every setting is in the page's URL, so a link replays the run)")
    cfg, problems, device, per_row = _read_form()
    c1, c2 = st.columns([1, 4], vertical_alignment="center")
    play = c1.button("▶ Train and play", key="pg_go", type="primary", disabled=bool(problems), width="stretch")
    if problems:
        c2.error("Cannot run: " + "; ".join(problems) + ".")
    else:
        c2.caption(f"{len(cfg.ks)} networks × {cfg.steps} Adam steps on {cfg.data.points + cfg.data.outliers} "
                   "points, about a second. Every run is saved in the run history.")

# Run what the form shows: on Play, after a preset click, and on the first visit (so the page opens moving).
first_visit = "pg_shown" not in st.session_state
if (play or st.session_state.pop("pg_run", False) or first_visit) and cfg is not None:
    if play:
        st.session_state.pop("pg_commentary", None)
    st.session_state["pg_shown"] = (cfg, device)
    st.session_state["pg_plays"] = st.session_state.get("pg_plays", 0) + 1
elif first_visit:
    st.session_state["pg_shown"] = None


def show(shown: tuple[PlaygroundConfig, str]) -> None:
    """Train (or fetch from the cache) the shown run and draw its animation."""
    shown_cfg, shown_device = shown
    try:
        result, run_id, store_error = _train(shown_cfg, shown_device)
    except (PlaygroundConfigError, ValueError) as exc:
        st.error(f"Cannot run: {exc}")
        return
    except Exception as exc:  # anything else: say what happened, never a traceback
        st.error(f"Training failed ({type(exc).__name__}: {exc}). Try fewer points or steps, or another device.")
        return
    name = st.session_state.get("pg_commentary")
    if name:
        st.info(f"**{PRESETS[name].title}.** {PRESETS[name].commentary}")
    if cfg is not None and shown_cfg != cfg:
        st.caption("The animation shows the last run; press **Train and play** to run the settings below.")
    token = hashlib.sha1(f"{shown_cfg}|{shown_device}|{st.session_state['pg_plays']}".encode()).hexdigest()[:12]
    st.plotly_chart(_figure(shown_cfg, shown_device, per_row, token), key=CHART_KEY)
    _autoplay(token)
    saved = f"saved as run #{run_id}" if run_id is not None else f"not saved ({store_error})"
    final = ", ".join(f"k = {format_k(r['k'])}: {r['test_acc']:.1%}" for r in result.runs())
    st.caption(f"Trained in {result.train_seconds:.2f} s on {result.device}; {saved}. Final clean test accuracy: "
               f"{final}. The same run from a shell: `{command_for(shown_cfg)}`")


with chart_area:
    if st.session_state["pg_shown"] is None:
        st.info("Fix the settings below, or press a preset, to start.")
    else:
        show(st.session_state["pg_shown"])
