"""Tests for core.datamap.recording: the per-example values, and the recorder inside the batched trainer."""

from __future__ import annotations

import math
import threading

import numpy as np
import torch

from core.data import DataSplit
from core.datamap.io import read_run
from core.datamap.recording import DynamicsRecording, batch_dynamics, file_name
from core.engine.executors import Epoch, Finished
from core.labelnoise import NoiseSpec
from core.mlp import make_mlp
from core.mnist import TrainConfig, train_events


def _naive(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The three values straight from their definitions, in float64."""
    z = logits.double()
    p = torch.softmax(z, -1).gather(-1, target.unsqueeze(-1)).squeeze(-1)
    others = z.scatter(-1, target.unsqueeze(-1), -math.inf)
    margin = z.gather(-1, target.unsqueeze(-1)).squeeze(-1) - others.amax(-1)
    return torch.stack([p, margin, torch.log1p(-p)])


def _split(n: int = 300, d: int = 12, classes: int = 4, seed: int = 0) -> DataSplit:
    """Separable synthetic data: class means far apart, a little noise."""
    g = torch.Generator().manual_seed(seed)
    means = torch.randn(classes, d, generator=g) * 3
    def part(m):
        y = torch.randint(0, classes, (m,), generator=g)
        return means[y] + torch.randn(m, d, generator=g), y
    (tx, ty), (vx, vy), (sx, sy) = part(n), part(60), part(60)
    return DataSplit(tx, ty, vx, vy, sx, sy, source="synthetic", dataset="mnist", num_classes=classes, input_dim=d)


def test_batch_dynamics_matches_the_definitions_in_float64():
    """p(given) = softmax_y, margin = z_y - max_{j != y} z_j, log_eps = log(1 - p_y), on well-conditioned logits."""
    g = torch.Generator().manual_seed(1)
    logits, target = torch.randn(3, 7, 5, generator=g) * 2, torch.randint(0, 5, (3, 7), generator=g)
    torch.testing.assert_close(batch_dynamics(logits, target).double(), _naive(logits, target), rtol=1e-5, atol=1e-6)


def test_batch_dynamics_is_finite_at_large_margins():
    """Logits 100 apart (p_y rounds to 1 or 0 in float32) still give finite margins and log_eps (no NaN)."""
    logits = torch.tensor([[100.0, 0.0, -5.0], [-100.0, 0.0, 3.0]])
    out = batch_dynamics(logits, torch.tensor([0, 0]))
    assert torch.isfinite(out[1]).all() and not torch.isnan(out).any()
    assert out[2, 0] < -90  # log(1 - p) ~ -100 where p is 1 to float32
    assert out[0, 1] < 1e-40 and abs(out[2, 1]) < 1e-6


def _train(tmp_path, record: bool, epochs: int = 3):
    configs = [TrainConfig(hidden=(16,), k=k, lr=0.05, momentum=0.5, epochs=epochs, batch_size=32, seed=3,
                           noise=NoiseSpec("symmetric", 0.3, 1)) for k in (0.25, 1.0)]
    factory = DynamicsRecording(str(tmp_path), "dyn") if record else None
    return list(train_events(configs, _split(), train_eval=100, record=factory))


def test_recording_changes_nothing_in_training(tmp_path, one_torch_thread):
    """With the recorder attached, every epoch's metrics are bit for bit those without it."""
    plain = [e.metrics for e in _train(tmp_path, False) if isinstance(e, Epoch)]
    recorded = [e.metrics for e in _train(tmp_path, True) if isinstance(e, Epoch)]
    strip = lambda m: {k: v for k, v in m.items() if k not in ("seconds", "elapsed")}  # noqa: E731
    assert [strip(m) for m in plain] == [strip(m) for m in recorded]


def test_each_run_saves_every_example_every_epoch_and_names_its_file(tmp_path, one_torch_thread):
    """Each run's summary names its file; the file holds (epochs, N) values for every example, the labels
    that run trained on (noisy) and the true ones, its k per epoch, and index 0..N-1."""
    finished = [e for e in _train(tmp_path, True) if isinstance(e, Finished)]
    assert len(finished) == 2
    for event, k in zip(sorted(finished, key=lambda e: e.index), (0.25, 1.0)):
        name = event.summary["dynamics"]
        assert name.startswith("dyn/")
        run = read_run(tmp_path / name.split("/", 1)[1])
        assert run.p_given.shape == run.margin.shape == run.log_eps.shape == (3, 300)
        assert run.p_given.dtype == np.float16
        assert not np.isnan(run.p_given).any()
        assert ((run.p_given >= 0) & (run.p_given <= 1)).all()
        np.testing.assert_array_equal(run.k, [k] * 3)
        np.testing.assert_array_equal(run.index, np.arange(300))
        assert 0.2 < (run.given_label != run.true_label).mean() < 0.4  # 30% of train+val flipped
        # margin > 0 means the given label has the largest logit, so p_given >= 1/4 with 4 classes
        assert ((run.margin > 0) <= (run.p_given > 0.24)).all()
    assert run.p_given[-1].mean() > run.p_given[0].mean()  # it learns


def test_recorded_values_are_those_of_the_training_pass(tmp_path, one_torch_thread):
    """In a 1-epoch run with one minibatch of the whole set, the recorded values are batch_dynamics of the
    initial model's logits (before the single update)."""
    split = _split(n=64)
    config = TrainConfig(hidden=(8,), k=0.5, lr=0.1, epochs=1, batch_size=64, seed=0)
    logits = make_mlp((8,), seed=0, n_in=12, n_out=4)(split.train_x)
    expected = batch_dynamics(logits.detach(), split.train_y).numpy()
    events = list(train_events([config], split, train_eval=64, record=DynamicsRecording(str(tmp_path))))
    run = read_run(tmp_path / next(e for e in events if isinstance(e, Finished)).summary["dynamics"].split("/")[1])
    np.testing.assert_allclose(run.p_given[0].astype(np.float32), expected[0], atol=2e-3)
    np.testing.assert_allclose(run.margin[0].astype(np.float32), expected[1], atol=2e-3, rtol=1e-3)


def test_a_stopped_run_keeps_its_finished_epochs(tmp_path, one_torch_thread):
    """Cancelled after its first epoch, a run still saves a file with that epoch."""
    stop_after = 1
    cancel = threading.Event()
    configs = [TrainConfig(hidden=(8,), k=1.0, lr=0.05, epochs=5, batch_size=32, seed=0)]
    files = []
    for event in train_events(configs, _split(), train_eval=50, cancel=cancel, record=DynamicsRecording(str(tmp_path))):
        if isinstance(event, Epoch) and event.epoch == stop_after:
            cancel.set()
        if isinstance(event, Finished):
            assert event.status == "stopped"
            files.append(event.summary["dynamics"])
    assert read_run(tmp_path / files[0].split("/")[1]).p_given.shape[0] == stop_after


def test_a_run_that_leaves_the_batch_keeps_its_own_epochs_and_labels(tmp_path, one_torch_thread):
    """When one run diverges and leaves the batch, every file still holds its own run's epochs and the
    labels that run trained on (different noise seeds give different labels)."""
    split = _split()
    configs = [TrainConfig(hidden=(16,), k=1.0, lr=lr, momentum=0.5, epochs=3, batch_size=32, seed=0, clip_norm=None,
                           noise=NoiseSpec("symmetric", 0.3, seed)) for lr, seed in ((1e6, 1), (0.05, 2))]
    events = list(train_events(configs, split, train_eval=100, record=DynamicsRecording(str(tmp_path))))
    ends = {e.index: e for e in events if isinstance(e, Finished)}
    assert ends[0].status == "diverged" and ends[1].status == "done"
    runs = {i: read_run(tmp_path / ends[i].summary["dynamics"].split("/")[1]) for i in ends}
    assert runs[0].p_given.shape[0] < 3 and runs[1].p_given.shape[0] == 3
    both = torch.cat([split.train_y, split.val_y])
    for i, config in enumerate(configs):
        expected = config.noise.apply(both, 4).labels[:300].numpy()
        np.testing.assert_array_equal(runs[i].given_label, expected)
    assert not np.isnan(runs[1].p_given).any()


def test_with_a_token_every_finished_epoch_is_on_disk_at_once(tmp_path, one_torch_thread):
    """Named by (token, k), a run's file is rewritten after every epoch: a process that dies after epoch 2
    (here: the generator abandoned) leaves a file with those 2 epochs, where its run config points."""
    configs = [TrainConfig(hidden=(8,), k=k, lr=0.05, epochs=5, batch_size=32, seed=0) for k in (0.5, 1.0)]
    events = train_events(configs, _split(), train_eval=50, record=DynamicsRecording(str(tmp_path), token="ab12"))
    for event in events:
        if isinstance(event, Epoch) and event.epoch == 2 and event.index == 1:
            break  # the process "dies" here: no Finished, no summary
    for k in (0.5, 1.0):
        run = read_run(tmp_path / file_name("ab12", k))
        assert run.p_given.shape == (2, 300) and run.config["k"] == k
