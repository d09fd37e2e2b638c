"""Files of the example lens: one run's recorded dynamics, and one data map of several k.

What:
- `RunDynamics` + `write_run` / `read_run`: what one run recorded (core.datamap.recording), one
  uncompressed .npz per run in `<run store directory>/dynamics/`, named in the run's summary
  ("dynamics"). float16 curves: 50,000 examples x 20 epochs take 6 MB and load in milliseconds.
- `Dynamics`: the runs of one launch side by side (one per k, same images in the same order),
  with the flips and, when computed, the cross-validated probabilities of the reference detector.
  `Dynamics.save(path)` writes the command's OUT.npz (its contract: index, given_label,
  true_label, flipped, k, p_given, confidence, variability, aum, push, plus the raw curves the
  page needs); `Dynamics.load(path)` reads it back.
- `load_launch(store, launch_id)`: a launch's Dynamics from the run store and its files.

Why: per-example curves are far too many for database rows (50,000 x 20 x 4 = 4 M values);
a file per run keeps the store small and a restart loses nothing: the file is written when the
run ends, before the store marks it finished.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.data import load_dataset
from core.datamap import metrics

DYNAMICS_DIR = "dynamics"  # folder next to runs.sqlite holding the run files
CURVES = ("p_given", "margin", "log_eps")  # (epochs, N) float16 curves of a run file


class DynamicsFileError(ValueError):
    """A dynamics file is missing or not what this code writes; the message says which file."""


@dataclass
class RunDynamics:
    """One run's per-example curves (epochs, N) and what they are about."""

    p_given: np.ndarray  # (E, N) float16: p(given label) in the minibatch pass of each epoch
    margin: np.ndarray  # (E, N) float16: given-label logit minus the largest other logit
    log_eps: np.ndarray  # (E, N) float16: log(1 - p_given); the push is exp(k * log_eps)
    k: np.ndarray  # (E,) float32: the run's k during each epoch
    index: np.ndarray  # (N,) int32: positions in the data set's standard training images
    given_label: np.ndarray  # (N,) int16: the labels trained on (noisy where flipped)
    true_label: np.ndarray  # (N,) int16: the data set's labels
    dataset: str = "mnist"  # core.data registry name
    config: dict = field(default_factory=dict)  # the run's TrainConfig.to_dict()


def save_arrays(path: Path, arrays: dict, compress: bool = False) -> None:
    """np.savez (or savez_compressed) to a temp file in the same folder, then os.replace: never a
    half-written file. The file is readable by all, as an ordinary new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            (np.savez_compressed if compress else np.savez)(fh, **arrays)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_run(path: str | os.PathLike, run: RunDynamics) -> None:
    """Save one run's curves (uncompressed: float16 noise compresses poorly and loads slower)."""
    save_arrays(Path(path), {
        **{name: getattr(run, name) for name in CURVES}, "k": run.k, "index": run.index,
        "given_label": run.given_label, "true_label": run.true_label, "dataset": np.array(run.dataset),
        "config": np.array(json.dumps(run.config)),
    })


def read_run(path: str | os.PathLike) -> RunDynamics:
    """A run file written by write_run (DynamicsFileError when missing or malformed)."""
    try:
        with np.load(path, allow_pickle=False) as f:
            return RunDynamics(**{name: f[name] for name in (*CURVES, "k", "index", "given_label", "true_label")},
                               dataset=str(f["dataset"]), config=json.loads(str(f["config"])))
    except (OSError, KeyError, ValueError) as exc:
        raise DynamicsFileError(f"cannot read the dynamics file {path}: {exc}") from None


@dataclass
class Dynamics:
    """K runs (one per k) over the same N training images: what the example lens analyses."""

    k: np.ndarray  # (K,) float
    index: np.ndarray  # (N,) int: positions in the data set's standard training images
    given_label: np.ndarray  # (N,) int: labels trained on
    true_label: np.ndarray  # (N,) int: the data set's labels
    p_given: np.ndarray  # (K, E, N) float16; NaN after a run's last epoch
    margin: np.ndarray  # (K, E, N) float16
    log_eps: np.ndarray  # (K, E, N) float16
    k_epoch: np.ndarray  # (K, E) float32: each run's k per epoch (NaN after its last)
    dataset: str = "mnist"
    noise: str = "clean"  # e.g. "symmetric 40%" (core.labelnoise.NoiseSpec.label)
    run_ids: list[int] = field(default_factory=list)  # store ids of the runs, when loaded from the store
    cv_probs: np.ndarray | None = None  # (N, C) float32 out-of-fold probabilities of the reference model

    @property
    def flipped(self) -> np.ndarray:
        """(N,) bool: the given label is not the true one."""
        return self.given_label != self.true_label

    @property
    def epochs(self) -> int:
        return self.p_given.shape[1]

    def save(self, path: str | os.PathLike, compress: bool = False) -> None:
        """Write the command's OUT.npz (see the module docstring for its contract); `compress` for a
        smaller file that loads slower (the bundled example)."""
        scores = metrics.per_example(self)
        arrays = {
            "index": self.index.astype(np.int64), "given_label": self.given_label.astype(np.int64),
            "true_label": self.true_label.astype(np.int64), "flipped": self.flipped,
            "k": self.k.astype(np.float64), "p_given": self.p_given, "margin": self.margin, "log_eps": self.log_eps,
            "k_epoch": self.k_epoch, "dataset": np.array(self.dataset), "noise": np.array(self.noise),
            "run_ids": np.asarray(self.run_ids, dtype=np.int64),
            **{name: scores[name].astype(np.float32) for name in metrics.SCORES},
        }
        if self.cv_probs is not None:
            arrays["cv_probs"] = self.cv_probs.astype(np.float32)
        save_arrays(Path(path), arrays, compress)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Dynamics":
        """Read an OUT.npz written by `save` (DynamicsFileError when missing or malformed)."""
        try:
            with np.load(path, allow_pickle=False) as f:
                return cls(k=f["k"], index=f["index"], given_label=f["given_label"], true_label=f["true_label"],
                           p_given=f["p_given"], margin=f["margin"], log_eps=f["log_eps"], k_epoch=f["k_epoch"],
                           dataset=str(f["dataset"]), noise=str(f["noise"]), run_ids=f["run_ids"].tolist(),
                           cv_probs=f["cv_probs"] if "cv_probs" in f else None)
        except (OSError, KeyError, ValueError) as exc:
            raise DynamicsFileError(f"cannot read the data map {path}: {exc}") from None


def combine(runs: list[RunDynamics], noise: str = "clean", run_ids: list[int] | None = None,
            cv_probs: np.ndarray | None = None) -> Dynamics:
    """Runs over the same images side by side, sorted by k; shorter runs padded with NaN epochs."""
    if not runs:
        raise DynamicsFileError("no recorded runs to combine")
    first = runs[0]
    if any(len(r.index) != len(first.index) or not np.array_equal(r.index, first.index) for r in runs):
        raise DynamicsFileError("the runs did not record the same training images")
    order = sorted(range(len(runs)), key=lambda i: float(runs[i].config.get("k", 1.0)))
    epochs = max(r.p_given.shape[0] for r in runs)
    n = len(first.index)

    def padded(name: str) -> np.ndarray:
        out = np.full((len(runs), epochs, n), np.nan, dtype=np.float16)
        for slot, i in enumerate(order):
            values = getattr(runs[i], name)
            out[slot, : len(values)] = values
        return out

    k_epoch = np.full((len(runs), epochs), np.nan, dtype=np.float32)
    for slot, i in enumerate(order):
        k_epoch[slot, : len(runs[i].k)] = runs[i].k
    return Dynamics(
        k=np.array([float(runs[i].config.get("k", 1.0)) for i in order]), index=first.index.astype(np.int64),
        given_label=first.given_label.astype(np.int64), true_label=first.true_label.astype(np.int64),
        p_given=padded("p_given"), margin=padded("margin"), log_eps=padded("log_eps"), k_epoch=k_epoch,
        dataset=first.dataset, noise=noise, run_ids=[run_ids[i] for i in order] if run_ids else [],
        cv_probs=cv_probs,
    )


CLASS_NAMES = {  # what the labels mean, where digits are not self-explanatory
    "fashion-mnist": ("T-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
                      "ankle boot"),
    "cifar10": ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
}


def class_names(dataset: str, num_classes: int = 10) -> list[str]:
    """Names of the classes 0..num_classes-1 ("3" for a digit, "coat" for Fashion-MNIST's 4)."""
    names = CLASS_NAMES.get(dataset)
    return list(names) if names and len(names) == num_classes else [str(c) for c in range(num_classes)]


def training_images(dataset: str, index: np.ndarray, data_dir: str | None = None) -> np.ndarray:
    """The data set's standard training images at `index`, uint8 (n, H, W) or (n, H, W, 3)
    (core.data.load_dataset; DatasetUnavailableError when it cannot be loaded)."""
    return load_dataset(dataset, data_dir=data_dir).train_x[np.asarray(index, dtype=np.int64)]
