"""The live Playground: its page in AppTest (opens on a preset, steering keeps the weights, data changes restart,
bad links warn) and the canvas's server side (Player: requests, edits once, resets, bounded registry)."""

from __future__ import annotations

import base64
import dataclasses
import json


import numpy as np
import pytest


from app.components.playground_canvas.player import MAX_FRAMES_PER_ANSWER, Player, Players, encode_frame, registry
from core.playground import DataConfig, LiveSession, PlaygroundConfig
from core.playground.presets import DEFAULT_PRESET, PRESETS

PAGE = "views/playground.py"
SMALL = PlaygroundConfig(data=DataConfig("moons", points=40, outliers=2), ks=(0.25, 1.0), grid=10)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _player(at) -> Player:
    return registry().get(at.session_state["pg_token"])


def _sent(at) -> dict:
    """The last message the page sent to the canvas."""
    return json.loads(at.get("bidi_component")[0].proto.json)


# --------------------------------------------------------------------------- page
def test_page_opens_on_the_default_preset_with_its_sentence_and_a_live_session(app):
    """A first visit shows the default preset's sentence (no hover needed), the canvas, and a live session of that
    preset's settings, sent to the canvas as a playing first frame."""
    at = app(PAGE)
    preset = PRESETS[DEFAULT_PRESET]
    assert preset.commentary in at.info[0].value
    assert [el.key for el in at.get("bidi_component")] == ["pg_canvas"]
    player = _player(at)
    assert player.config.ks == preset.config.ks and player.config.data == preset.config.data
    assert player.config.seeds == preset.config.seeds
    message = _sent(at)
    assert message["play"] and message["gen"] == player.gen
    assert message["titles"] == ["k = 1/4", "k = 1 (cross-entropy)"]
    assert not at.error and not at.exception


def test_changing_k_or_lr_keeps_the_weights_and_changing_the_data_restarts(app):
    """A new k set or learning rate steers the same session (its step and weights go on); a new data set makes a
    new session from step 0 and the canvas is told why."""
    at = app(PAGE)
    player = _player(at)
    player.answer({"gen": player.gen, "want": 2, "spf": 5})
    assert player.session.step == 10
    at.multiselect(key="ks").set_value(["1/4", "1", "4"]).run()
    at.number_input(key="lr").set_value(0.01).run()
    assert _player(at) is player and player.session.step >= 10  # not back to 0 (a page run while playing goes on)
    assert player.config.ks == (0.25, 1.0, 4.0) and player.session.optimizer.param_groups[0]["lr"] == 0.01
    assert _sent(at)["frames"][-1]["step"] == player.session.step and len(_sent(at)["titles"]) == 3
    at.selectbox(key="dataset").set_value("circles").run()
    fresh = _player(at)
    assert fresh is not player and fresh.session.step == 0 and fresh.config.data.dataset == "circles"
    assert "restarted from step 0" in _sent(at)["notice"] and _sent(at)["frames"][0]["step"] == 0
    assert fresh.config.ks == (0.25, 1.0, 4.0)  # the steered k values stay
    assert not at.exception


def test_a_preset_click_starts_it_afresh_with_its_sentence(app):
    """Pressing a preset fills the form, starts a new session of exactly its settings and shows its sentence."""
    at = app(PAGE)
    at.button_group(key="pg_presets").set_value("spiral").run()
    spiral = PRESETS["spiral"]
    assert spiral.commentary in at.info[0].value
    cfg = _player(at).config
    assert (cfg.data, cfg.ks, cfg.hidden, cfg.seeds) == (spiral.config.data, spiral.config.ks, spiral.config.hidden,
                                                         spiral.config.seeds)
    assert at.multiselect(key="ks").value == ["1/4", "1", "4"]
    assert not at.exception


def test_bad_link_values_warn_and_never_raise(app):
    """Unusable link values (?steps=1e309, lr=nan, noise=0.7, points=lots, dataset=swirl, seeds=2) are each named
    in a warning; the page shows the defaults and no exception box."""
    query = {"steps": "1e309", "lr": "nan", "noise": "0.7", "points": "lots", "dataset": "swirl", "seeds": "2"}
    at = app(PAGE, query=query)
    text = " ".join(w.value for w in at.warning)
    for key, value in query.items():
        assert f"{key}={value}" in text, key
    assert not at.exception and _player(at).config.steps == PRESETS[DEFAULT_PRESET].config.steps


def test_url_parameters_set_the_session(app):
    """A shared link (?dataset=circles&points=120&noise=0.1&ks=1/2&ks=2&steps=60&seeds=1) sets the live session."""
    at = app(PAGE, query={"dataset": "circles", "points": "120", "noise": "0.1", "ks": ["1/2", "2"], "steps": "60",
                          "seeds": "1"})
    cfg = _player(at).config
    assert (cfg.data.dataset, cfg.data.points, cfg.data.label_noise, cfg.ks, cfg.seeds) == ("circles", 120, 0.1,
                                                                                          (0.5, 2.0), 1)
    assert _player(at).stop_at == 60
    command = next(c.value for c in at.caption if "python -m core.playground" in c.value)
    assert "--dataset circles --points 120 --label-noise 0.1" in command and "--k 1/2 2" in command


def test_bad_settings_keep_the_last_valid_session_and_say_why(app):
    """An unreadable hidden width is named in an error; the canvas keeps playing the last valid settings."""
    at = app(PAGE)
    player = _player(at)
    at.text_input(key="hidden").set_value("16, x").run()
    assert "hidden widths" in at.error[0].value and _player(at) is player
    assert not at.exception


# --------------------------------------------------------------------------- the canvas's server side
def test_a_request_trains_the_frames_it_wants_and_answers_in_bytes():
    """want frames of spf steps each (capped, and ending exactly at the stop step), one message: p(red) as G*G
    bytes per panel, push bytes per point."""
    player = Player(SMALL)
    message = player.answer({"gen": player.gen, "want": 3, "spf": 4, "seq": 7})
    assert [f["step"] for f in message["frames"]] == [4, 8, 12] and message["seq"] == 7
    frame = message["frames"][-1]
    assert len(base64.b64decode(frame["prob"])) == 2 * 10 * 10 and len(base64.b64decode(frame["push"])) == 2 * 42
    assert message["points"]["n"] == 42
    capped = player.answer({"gen": player.gen, "want": 1000, "spf": 1})
    assert len(capped["frames"]) == MAX_FRAMES_PER_ANSWER
    stopped = player.answer({"gen": player.gen, "want": 5, "spf": 4, "until": 26})  # the canvas's stop step
    assert [f["step"] for f in stopped["frames"]] == [24, 26]


def test_a_resent_edit_is_applied_once_and_stale_ones_never():
    """Edits carry ids: resending the same one (a lost answer) applies it once; edits on another generation's
    points (sent before a reset) are dropped; a reset starts a new generation at step 0."""
    player = Player(SMALL)
    gen = player.gen
    add = {"id": 1, "op": "add", "x": 0.1, "y": 0.2, "label": 1}
    for _ in range(2):
        message = player.answer({"gen": gen, "want": 0, "edits": [add]})
    assert message["points"]["n"] == 43 and message["ack_edit"] == 1
    flip = {"id": 2, "op": "flip", "index": 0}
    before = player.session.y[0]
    player.answer({"gen": gen, "edits": [flip]})
    assert player.session.y[0] == 1 - before
    message = player.answer({"gen": gen, "want": 2, "spf": 3, "reset": 1})
    assert message["gen"] != gen and message["frames"][-1]["step"] == 6 and player.session.step == 6
    player.answer({"gen": gen, "edits": [{"id": 3, "op": "flip", "index": 1}]})  # old generation: ignored
    assert player.edit_id == 2


def test_a_bad_edit_is_reported_not_raised():
    """An edit the session refuses (a flip past the last point) comes back as the message's error."""
    player = Player(SMALL)
    message = player.answer({"gen": player.gen, "edits": [{"id": 1, "op": "flip", "index": 999}]})
    assert "point index" in message["error"]


def test_steering_keeps_the_weights():
    """steer() with new ks and lr keeps the boundary (weights) and bumps the settings version."""
    player = Player(SMALL)
    before = player.answer({"gen": player.gen, "want": 1, "spf": 5})
    assert player.steer(dataclasses.replace(SMALL, ks=(0.25, 2.0), lr=0.01))
    after = player.answer({"gen": player.gen})
    assert after["ver"] == before["ver"] + 1 and after["titles"] == ["k = 1/4", "k = 2"]
    assert after["frames"][0]["prob"] == before["frames"][0]["prob"] and after["frames"][0]["step"] == 5


def test_the_registry_keeps_at_most_its_cap():
    """Players holds at most `cap` sessions and drops the least recently used first."""
    players = Players(cap=2)
    a, b, c = (Player(SMALL) for _ in range(3))
    players.put("a", a)
    players.put("b", b)
    assert players.get("a") is a  # a is now the most recent
    players.put("c", c)
    assert len(players) == 2 and players.get("b") is None and players.get("a") is a


def test_push_bytes_grow_with_the_share_of_the_push():
    """encode_frame's push byte is 32 * sqrt(|f_y| / panel mean): equal pushes give 32, 4x the mean 64, none 0."""
    snap = LiveSession(SMALL).advance(0)
    snap["push"] = np.array([[0.3, 0.3, 0.3, 0.3], [0.0, 0.0, 0.0, 4.0]])
    push = np.frombuffer(base64.b64decode(encode_frame(snap)["push"]), dtype=np.uint8).reshape(2, 4)
    assert (push[0] == 32).all() and push[1].tolist() == [0, 0, 0, 64]
