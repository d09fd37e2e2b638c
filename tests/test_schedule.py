"""Tests of core/schedule.py: KSchedule values, stepping, text form and errors."""

from __future__ import annotations

import math

import pytest

from core.schedule import KSchedule, parse_schedule
from tests.conftest import data_unavailable


def test_linear_and_cosine_values():
    """linear goes in a straight line from start to end; cosine is flat at both ends and meets linear halfway."""
    lin = parse_schedule("linear:1/4:2")
    cos = parse_schedule("cosine:1/4:2")
    assert lin(0) == 0.25 and lin(1) == 2.0 and math.isclose(lin(0.5), 1.125)
    assert math.isclose(lin(0.25), 0.25 + 1.75 * 0.25)
    assert cos(0) == 0.25 and math.isclose(cos(1), 2.0) and math.isclose(cos(0.5), 1.125)
    assert cos(0.05) - 0.25 < lin(0.05) - 0.25  # slower start
    assert lin(-1) == 0.25 and lin(7) == 2.0  # progress is clamped to [0, 1]


def test_step_and_piecewise_values():
    """step holds each k from its progress on; piecewise interpolates between points and holds the last."""
    step = parse_schedule("step:1/4@0,1@0.5,2@0.8")
    assert [step(t) for t in (0, 0.49, 0.5, 0.79, 0.8, 1)] == [0.25, 0.25, 1.0, 1.0, 2.0, 2.0]
    pw = parse_schedule("piecewise:1/4@0,2@0.5")
    assert pw(0) == 0.25 and math.isclose(pw(0.25), 1.125) and pw(0.5) == 2.0 and pw(0.9) == 2.0


def test_constant_and_bare_number():
    """A bare number and constant:K are the same constant schedule."""
    assert parse_schedule("0.5") == parse_schedule("constant:1/2") == KSchedule.constant(0.5)
    assert parse_schedule("2")(0.3) == 2.0 and parse_schedule("2").is_constant


def test_step_counter_like_an_lr_scheduler():
    """k follows last_step / total_steps: step() advances it, state_dict round-trips it."""
    s = KSchedule.linear(1.0, 3.0, total_steps=4)
    seen = []
    for _ in range(6):
        seen.append(s.k)
        s.step()
    assert seen == [1.0, 1.5, 2.0, 2.5, 3.0, 3.0]
    other = KSchedule.linear(1.0, 3.0, total_steps=4)
    other.load_state_dict(s.state_dict())
    assert other.k == s.k == 3.0
    assert KSchedule.linear(1.0, 3.0).k == 1.0  # no total_steps: progress stays 0


@pytest.mark.parametrize("text", ["constant:1/2", "linear:1/4:2", "cosine:2:1/4", "step:1/4@0,1@0.5,2@0.8",
                                  "piecewise:1/4@0,2@0.5,3@1"])
def test_text_round_trip(text):
    """str(parse(text)) gives the text back, and parsing it again gives an equal schedule."""
    s = parse_schedule(text)
    assert str(s) == text
    assert parse_schedule(str(s)) == s


def test_labels():
    """Labels write k with fractions and name the kind."""
    assert parse_schedule("linear:0.25:2").label == "k 1/4→2 (linear)"
    assert parse_schedule("step:1/4@0,1@0.5,2@0.8").label == "k 1/4→1→2 (step)"
    assert parse_schedule("0.5").label == "k 1/2"


@pytest.mark.parametrize("text,match", [
    ("", "text like"),
    ("linear:1", "START:END"),
    ("linear:0:2", "> 0"),
    ("linear:-1:2", "> 0"),
    ("cosine:nan:2", "> 0"),
    ("linear:a:2", "not a number"),
    ("step:1@0.5,2@0.8", "progress 0"),
    ("step:1@0,2@0", "rising"),
    ("step:1@0,2@1.5", r"\[0, 1\]"),
    ("step:1,2", "K@PROGRESS"),
    ("exp:1:2", "unknown schedule kind"),
    ("1/0", "not a number"),
])
def test_bad_text_raises_one_line_value_error(text, match):
    """Bad text raises ValueError with a one-line message saying what is wrong."""
    with pytest.raises(ValueError, match=match) as info:
        parse_schedule(text)
    assert "\n" not in str(info.value)


def test_bad_total_steps():
    """total_steps must be a whole number >= 1."""
    with pytest.raises(ValueError, match="total_steps"):
        KSchedule.linear(1, 2, total_steps=0)


# ----------------------------------------------------------------------------- in the batched trainer

def test_trainer_runs_each_configs_own_schedule():
    """In one batched group, each run follows its own schedule per iteration: its weights equal a plain
    PyTorch loop where k = KSchedule.k and schedule.step() follows every optimizer step."""
    torch = pytest.importorskip("torch")
    from core.data import MnistUnavailableError, Subset, load_split
    from core.mnist import BatchTrainer, DataConfig, TrainConfig, epoch_order, fit
    from core.pseudograd import tunable_cross_entropy

    data = DataConfig(n_train=256, n_val=64, n_test=64, train_eval=64, device="cpu")
    try:
        split = load_split(subset=Subset(data.n_train, data.n_val, data.n_test), device="cpu")
    except MnistUnavailableError as exc:
        data_unavailable(f"MNIST is not available here: {exc}")
    base = dict(hidden=(16,), lr=0.2, momentum=0.5, batch_size=64, epochs=2, seed=3, clip_norm=None)
    configs = [TrainConfig(k_schedule="linear:1/4:2", **base), TrainConfig(k_schedule="step:2@0,1/4@0.5", **base),
               TrainConfig(k=1.0, **base)]
    results = fit(configs, data, split=split)
    x, y = split.train_x, split.train_y
    steps = -(-len(x) // base["batch_size"]) * base["epochs"]
    for config, result in zip(configs, results):
        net = BatchTrainer([config], split).model.to_sequential(0)
        optimizer = torch.optim.SGD(net.parameters(), lr=config.lr, momentum=config.momentum)
        schedule = KSchedule.parse(config.k_schedule or str(config.k), total_steps=steps)
        for epoch in range(1, config.epochs + 1):
            for batch in epoch_order(config.seed, epoch, len(x)).split(config.batch_size):
                optimizer.zero_grad()
                tunable_cross_entropy(net(x[batch]), y[batch], k=torch.full((len(batch),), schedule.k)).backward()
                optimizer.step()
                schedule.step()
        for name, tensor in net.state_dict().items():
            torch.testing.assert_close(result.state[name], tensor, rtol=1e-4, atol=1e-6)
    assert not torch.equal(results[0].state["0.weight"], results[1].state["0.weight"])
    assert configs[0].label.startswith("k 1/4→2 (linear)") and configs[0].to_dict()["k_schedule"] == "linear:1/4:2"
    assert TrainConfig.from_dict(configs[1].to_dict()) == configs[1]


def test_config_rejects_bad_schedule():
    """TrainConfig(k_schedule=...) names a bad schedule in a ConfigError; an objective excludes it."""
    from core.losses import ObjectiveSpec
    from core.mnist import ConfigError, TrainConfig

    with pytest.raises(ConfigError, match="k_schedule"):
        TrainConfig(k_schedule="linear:0:2")
    with pytest.raises(ConfigError, match="objective"):
        TrainConfig(k_schedule="linear:1:2", objective=ObjectiveSpec("gce"))


def test_mnist_page_schedule_input(app):
    """The MNIST page's k-schedule box replaces the k values in the grid it would launch; a bad schedule
    blocks Launch with a one-line message naming the problem."""
    at = app("views/mnist.py")
    at.text_input(key="mnist_hidden").set_value("32")
    at.text_input(key="mnist_k_schedule").set_value("linear:1/4:2").run()
    assert not at.error
    assert any("run(s) = 1 k ×" in c.value for c in at.caption)
    at.text_input(key="mnist_k_schedule").set_value("linear:0:2").run()
    assert "k_schedule" in at.error[0].value and "> 0" in at.error[0].value
    assert at.button(key="mnist_launch").disabled
