"""Playground: one small network per k learns 2-D data live, and a class can steer it while it trains.

Thin skin over core.playground.LiveSession. Widgets (each bound to the URL, so a link opens the same run) build a
PlaygroundConfig; a Player per tab (app/components/playground_canvas/player.py) holds its LiveSession; the canvas
component draws the panels and asks the Player for frames.

Architecture, and why: Play must reach 15+ frames per second and react to a change of k or a click within half a
second. A Streamlit rerun per frame cannot (a whole-page rerun takes tenths of a second), and st.plotly_chart
reports no clicks on empty canvas (streamlit#8824). So the canvas is a components-v2 element inside an
@st.fragment: it draws on an HTML canvas, plays frames at 20 per second, and pulls the next few frames with one
small request while the last ones play (each request reruns only the fragment: a few milliseconds of server
work plus the training steps). Training happens only when a visible tab asks, so a hidden or closed tab stops by
itself; the server keeps at most player.MAX_PLAYERS sessions and the frames are recorded in the browser (400 at most).
Changing k or the learning rate continues from the current weights; changing the data, network or seeds starts
a new session from step 0 and says so. The Playground is the one exception to "every run goes through the Lab":
its runs are tiny interactive steps (milliseconds each, on the CPU, where a GPU's launch latency would exceed
the work), so they are neither queued nor stored; `python -m core.playground` trains and records whole runs.
"""

from __future__ import annotations

import dataclasses
import math
import uuid
from collections.abc import Callable

import streamlit as st

from app.components.playground_canvas import canvas
from app.components.playground_canvas.player import Player, registry
from app.widgets import k_values
from core.curves import format_k
from core.mlp import parse_widths
from core.playground import DATASETS, DataConfig, PlaygroundConfig, PlaygroundConfigError
from core.playground.cli import command_for
from core.playground.config import SEEDS
from core.playground.presets import DEFAULT_PRESET, PRESETS

QP = "query-params"  # every setting lives in the URL: a link opens the same run
DEFAULT = PRESETS[DEFAULT_PRESET].config
CANVAS_KEY = "pg_canvas"


def _number(low: float, high: float, whole: bool = False) -> Callable[[str], float]:
    """A URL reader for a finite number in [low, high] (whole if asked); ValueError otherwise."""
    def read(text: str) -> float:
        value = float(text)
        if not math.isfinite(value) or not low <= value <= high or (whole and value != int(value)):
            raise ValueError(text)
        return value
    return read


def _one_of(*choices: str) -> Callable[[str], str]:
    def read(text: str) -> str:
        if text not in choices:
            raise ValueError(text)
        return text
    return read


# URL parameter -> (reader raising ValueError, what it must be). Checked before the widgets read the URL: a bad
# value is named in a warning (the widget then shows its default). Whole-number fields are float widgets shown
# as "%.0f": Streamlit's int number_input raises on ?steps=1e309 (int(inf)) before its own range check.
URL_RULES = {
    "dataset": (_one_of(*DATASETS), f"one of {', '.join(DATASETS)}"),
    "points": (_number(10, 5000, True), "a whole number from 10 to 5000"),
    "outliers": (_number(0, 100, True), "a whole number from 0 to 100"),
    "steps": (_number(1, 5000, True), "a whole number from 1 to 5000"),
    "seed": (_number(0, 2**31 - 1, True), "a whole number >= 0"),
    "noise": (_number(0, 0.49), "a fraction from 0 to 0.49"),
    "lr": (_number(1e-5, 1), "a number in (0, 1], such as 0.03"),
    "act": (_one_of("tanh", "relu"), "tanh or relu"),
    "seeds": (_one_of(*map(str, SEEDS)), " or ".join(map(str, SEEDS))),
}


def _form_values(cfg: PlaygroundConfig) -> dict:
    """Widget state that shows `cfg`."""
    d = cfg.data
    return {"dataset": d.dataset, "points": float(d.points), "noise": d.label_noise, "outliers": float(d.outliers),
            "ks": [format_k(k) for k in cfg.ks], "ks_add": "", "hidden": ", ".join(map(str, cfg.hidden)),
            "act": cfg.activation, "lr": cfg.lr, "steps": float(cfg.steps), "seed": float(cfg.seed), "seeds": cfg.seeds}


def _preset() -> None:
    """A preset pill fills the form and starts it afresh (playing), with its sentence on top. Pressing the chosen
    pill again (which unselects it) starts that preset again."""
    name = st.session_state["pg_presets"] or st.session_state.get("pg_preset", DEFAULT_PRESET)
    st.session_state["pg_presets"] = name
    st.session_state.update(_form_values(PRESETS[name].config))
    st.session_state["pg_preset"] = name
    st.session_state["pg_restart"] = True
    # The whole page: Streamlit's browser side sends the widget changes of one tick as one rerun, scoped to the
    # first fragment among them (WidgetStateManager.scheduleFlush, streamlit#12747), so a press that lands in the
    # same tick as a canvas request would otherwise rerun the canvas alone and never restart.
    st.rerun()


def _url_notes() -> list[str]:
    """Warnings for link values that cannot be used (once per session, before the widgets read the URL)."""
    if "pg_url_notes" not in st.session_state:
        notes = []
        for key, (read, rule) in URL_RULES.items():
            if key in st.query_params:
                text = st.query_params[key]
                try:
                    read(text)
                except ValueError:
                    default = _form_values(DEFAULT)[key]
                    notes.append(f"`{key}={text}` ({key} must be {rule}); showing {default:g} instead"
                                 if isinstance(default, float) else
                                 f"`{key}={text}` ({key} must be {rule}); showing {default} instead")
        st.session_state["pg_url_notes"] = notes
    return st.session_state["pg_url_notes"]


def _live_settings() -> tuple[list[float], list[str], float, int, int]:
    """The settings that steer a running session: k values, learning rate, seeds, stop step."""
    picked = k_values("k values (one panel each; k = 1 is cross-entropy)", key="ks",
                      default=[format_k(k) for k in DEFAULT.ks], url=True)
    problems = ["fix the k value in “Add a k value”"] if picked.rejected else []
    if not picked.values:
        problems.append("choose at least one k")
    c1, c2, c3 = st.columns(3)
    lr = c1.number_input("Adam learning rate (every k)", value=DEFAULT.lr, min_value=1e-5, max_value=1.0, step=0.01,
                         format="%g", key="lr", bind=QP,
                         help="Changes while it plays, from the current weights. Adam divides out the "
                              "pseudo-gradient's overall size, so one rate fits every k.")
    seeds = c2.selectbox("Seeds (starting points per k)", SEEDS, index=SEEDS.index(DEFAULT.seeds), key="seeds",
                         bind=QP, help="Each panel trains this many initializations: its accuracy is their mean "
                                       "(range in brackets), its boundary the median one's. Changing it restarts.")
    steps = c3.number_input("Stop at step", value=float(DEFAULT.steps), min_value=1.0, max_value=5000.0, step=100.0,
                            format="%.0f", key="steps", bind=QP, help="Play pauses here (press Play to go on).")
    return picked.values, problems, float(lr), int(seeds), round(steps)


def _data_settings() -> tuple[dict, list[str]]:
    """The settings that define the data and the network (a change restarts from step 0)."""
    c1, c2, c3, c4 = st.columns(4)
    dataset = c1.selectbox("Data set", DATASETS, index=DATASETS.index(DEFAULT.data.dataset), key="dataset", bind=QP)
    points = c2.number_input("Training points", value=float(DEFAULT.data.points), min_value=10.0, max_value=5000.0,
                             step=50.0, format="%.0f", key="points", bind=QP)
    noise = c3.number_input("Label noise (fraction flipped)", value=DEFAULT.data.label_noise, min_value=0.0,
                            max_value=0.49, step=0.05, format="%g", key="noise", bind=QP,
                            help="A fraction of the training labels, flipped at random (× markers). The test set "
                                 "stays clean.")
    outliers = c4.number_input("Outliers", value=float(DEFAULT.data.outliers), min_value=0.0, max_value=100.0,
                               step=5.0, format="%.0f", key="outliers", bind=QP,
                               help="Extra training points far from the data, each labelled with the class that is "
                                    "NOT there (◆ markers): the 'large errors' of the paper.")
    c1, c2, c3, _ = st.columns(4)
    hidden = c1.text_input("Hidden widths", value=", ".join(map(str, DEFAULT.hidden)), key="hidden", bind=QP,
                           help="e.g. 16, 16: two hidden layers of 16 units")
    act = c2.selectbox("Activation", ("tanh", "relu"), key="act", bind=QP)
    seed = c3.number_input("Seed (data and first start)", value=float(DEFAULT.seed), min_value=0.0,
                           max_value=float(2**31 - 1), step=1.0, format="%.0f", key="seed", bind=QP)
    problems = []
    try:
        widths = parse_widths(hidden, max_width=256, max_layers=4)
    except ValueError as exc:
        problems.append(str(exc))
        widths = None
    return {"dataset": dataset, "points": points, "noise": noise, "outliers": outliers, "hidden": widths,
            "act": act, "seed": seed}, problems


def _config(ks, lr, seeds, steps, form) -> PlaygroundConfig:
    """The widgets' values as a config (PlaygroundConfigError if one is out of range)."""
    data = DataConfig(form["dataset"], points=round(form["points"]), label_noise=float(form["noise"]),
                      outliers=round(form["outliers"]), seed=round(form["seed"]))
    return PlaygroundConfig(data=data, ks=tuple(ks), hidden=form["hidden"], activation=form["act"], lr=lr,
                            steps=steps, seed=round(form["seed"]), seeds=seeds, grid=40)


def _restart_key(cfg: PlaygroundConfig) -> PlaygroundConfig:
    """What a running session cannot change without starting over: everything but k, lr and the stop step."""
    return dataclasses.replace(cfg, ks=(1.0,), lr=0.03, steps=1)


def _changed(old: PlaygroundConfig, new: PlaygroundConfig) -> str:
    names = {"data": "data", "hidden": "network", "activation": "activation", "seeds": "seeds", "seed": "seed"}
    which = [label for name, label in names.items() if getattr(old, name) != getattr(new, name)]
    return ", ".join(dict.fromkeys(which)) or "settings"


def _player(cfg: PlaygroundConfig) -> Player:
    """This tab's player for `cfg`: steered if only k, lr or the stop step changed, else a new one from step 0."""
    token = st.session_state.setdefault("pg_token", uuid.uuid4().hex)
    player = registry().get(token)
    restart = st.session_state.pop("pg_restart", False)
    if player is not None and not restart and _restart_key(player.config) == _restart_key(cfg):
        player.steer(cfg)
        return player
    notice = None
    if player is not None and not restart:
        notice = f"Changed {_changed(player.config, cfg)}: training restarted from step 0 with new weights."
    player = Player(cfg, notice=notice)
    registry().put(token, player)
    return player


@st.fragment
def live_canvas() -> None:
    """The canvas: answers its request (frames, clicks, reset) from this tab's player; reruns alone per request."""
    player = registry().get(st.session_state.get("pg_token", ""))
    if player is None:  # dropped after a long pause (the server keeps MAX_PLAYERS): start this tab's run again
        player = _player(st.session_state["pg_cfg"])
    state = st.session_state.get(CANVAS_KEY)
    request = getattr(state, "req", None) if state is not None else None
    canvas(player.answer(request), key=CANVAS_KEY)
    st.caption("The same settings from a shell (a whole run, saved in the run history): "
               f"`{command_for(player.config)}`")


@st.fragment
def steering():
    """k, learning rate, seeds, stop step. A change reruns only this fragment and steers the running session (the
    canvas picks it up with its next request, a fraction of a second later); in a page run it just returns them."""
    values = _live_settings()
    if st.session_state.get("pg_page_run") or "pg_cfg" not in st.session_state:
        return values
    ks, problems, lr, seeds, steps = values
    try:
        if problems:
            raise PlaygroundConfigError("; ".join(problems))
        cfg = dataclasses.replace(st.session_state["pg_cfg"], ks=tuple(ks), lr=lr, seeds=seeds, steps=steps)
    except PlaygroundConfigError as exc:
        st.error(f"Cannot steer with these settings: {exc}. The panels keep the last valid ones.")
        return values
    st.session_state["pg_cfg"] = cfg
    _player(cfg)
    _poke_canvas()
    return values


def _poke_canvas() -> None:
    """Tell the canvas that its session was steered, so it asks for new frames now instead of after the answer
    in flight (which was trained with the old settings). The counter makes each poke a new element."""
    st.session_state["pg_pokes"] = st.session_state.get("pg_pokes", 0) + 1
    st.html(f"<script>/* {st.session_state['pg_pokes']} */ window.dispatchEvent(new Event('pgc-steered'));</script>",
            unsafe_allow_javascript=True, width="content")


# ----------------------------------------------------------------------------- page
st.title("Playground: what k does to each point")

for note in _url_notes():
    st.warning(f"The link's {note}.")

preset = st.session_state.setdefault("pg_preset", DEFAULT_PRESET)
st.session_state.setdefault("pg_presets", preset)
st.pills("Presets (each starts a demonstration; its sentence says what to watch)", list(PRESETS),
         format_func=lambda name: PRESETS[name].title, key="pg_presets", on_change=_preset)
commentary = st.container()
canvas_area = st.container()

with st.container(border=True):
    st.markdown("**Steer while it plays.** k and the learning rate continue from the current weights.")
    st.session_state["pg_page_run"] = True  # steering() knows it runs inside a page run, not on its own
    try:
        ks, problems, lr, seeds, steps = steering()
    finally:  # also when a rerun interrupts the page here: a later fragment rerun must see False
        st.session_state["pg_page_run"] = False
with st.container(border=True):
    st.markdown("**Data and network.** Changing these starts training again from step 0.")
    form, more = _data_settings()
problems += more

cfg = None
if not problems:
    try:
        cfg = _config(ks, lr, seeds, steps, form)
    except (PlaygroundConfigError, TypeError, ValueError) as exc:
        problems.append(str(exc))

with commentary:
    p = PRESETS[preset]
    shown = cfg if cfg is not None else st.session_state.get("pg_cfg")
    if shown is None or _restart_key(shown) == _restart_key(dataclasses.replace(p.config, grid=shown.grid)):
        st.info(f"**{p.title}.** {p.commentary}")
    else:
        st.info("**Your own settings.** Watch which points grow (they drive their network) and where each k's boundary "
                "goes; press a preset for a demonstration with a sentence of what to watch.")

with canvas_area:
    if problems:
        st.error("Cannot train these settings: " + "; ".join(problems) + ". The panels keep the last valid settings.")
    if cfg is not None:
        st.session_state["pg_cfg"] = cfg
    if "pg_cfg" in st.session_state:
        _player(st.session_state["pg_cfg"])
        live_canvas()

st.markdown(
    "**How to read it.** One network per k, **same start, same data, training live**. **Bigger marker = that point "
    "pushes its network harder** (|f_y|). **Click a panel** to add a point of the chosen class, click a point to flip "
    "its label. Each panel's background is its p(red), the black line its 50% boundary. "
    "Cross-entropy (k = 1) lets the worst errors push hardest, small k lets every wrong point push about equally, "
    "large k listens to the worst few. A k added while it plays starts from the weights of the panel it replaces "
    "(or of the nearest k).")
