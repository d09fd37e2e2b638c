"""The label-noise comparison on the engine: the three verbs of every experiment package.

What: a comparison is a list of configurations, either MNIST-style `TrainConfig`s (objectives x
rates x seeds, core.noise.grid.comparison_configs; saved as runs of kind "noise") or one
`ToyConfig` per noise rate (core.noise.grid.toy_configs; runs of kind "toy"). Every run of one
comparison shares the store's group id, so views read a comparison back by it.
- `submit(lab, configs, data, owner=...)`: queue it for a browser session (pages);
- `run_here(lab, configs, data)`: train it now on this thread (the CLI; Ctrl-C stops);
- `load(store, run_ids)`: the saved runs back (RunResults for MNIST, SavedToys for the toy).

    from core.noise.task import run_here
    from core.noise.grid import comparison_configs
    run_ids, results = run_here(Lab(), comparison_configs(["ce", "tunable:k=0.25"], [0.4]), DataConfig(n_train=5000))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from core.engine.executors import Event, Executor
from core.engine.lab import Lab, Launched
from core.engine.store import RunStore
from core.mnist import task as mnist_task
from core.mnist.config import DataConfig, TrainConfig
from core.toy import task as toy_task
from core.toy.config import ToyConfig

KIND = "noise"  # MNIST comparison runs (toy comparisons are ordinary "toy" runs)


def _is_toy(configs: Sequence) -> bool:
    if not configs:
        raise ValueError("choose at least one configuration to train")
    kinds = {isinstance(c, ToyConfig) for c in configs}
    if len(kinds) > 1 or not all(isinstance(c, (ToyConfig, TrainConfig)) for c in configs):
        raise ValueError("a comparison is all TrainConfigs (MNIST-style) or all ToyConfigs (the toy)")
    return kinds == {True}


def submit(lab: Lab, configs: Sequence, data: DataConfig | None = None, *, owner: str, name: str | None = None,
           executor: Executor | None = None) -> Launched:
    """Queue the comparison for `owner` as one launch (one group id in the store)."""
    if not _is_toy(configs):
        return mnist_task.submit(lab, configs, data or DataConfig(n_train=10_000), owner=owner, kind=KIND, name=name,
                                 executor=executor)
    groups, records, labels, device = toy_task.launch_args(list(configs))
    return lab.launch(toy_task.KIND, groups, records, labels, device=device, owner=owner, name=name or labels[0],
                      executor=executor, meta={"alpha": configs[0].alpha})


def run_here(lab: Lab, configs: Sequence, data: DataConfig | None = None, *, executor: Executor | None = None,
             cancel=None, on_event: Callable[[int, Event], None] | None = None) -> tuple[list[int], list]:
    """Train the comparison now on this thread; the run ids and the results, in `configs` order."""
    if not _is_toy(configs):
        return mnist_task.run_here(lab, configs, data or DataConfig(n_train=10_000), kind=KIND, executor=executor,
                                   on_event=on_event)
    groups, records, labels, device = toy_task.launch_args(list(configs))
    launched = lab.run_here(toy_task.KIND, groups, records, labels, device=device, executor=executor, cancel=cancel,
                            on_event=on_event)
    return launched.run_ids, load(lab.store, launched.run_ids)


def load(store: RunStore, run_ids: Sequence[int]) -> list:
    """Saved comparison runs: RunResults (MNIST-style runs) or SavedToys (toy runs), in order."""
    runs = store.list_runs(ids=list(run_ids))
    if len(runs) and set(runs["kind"]) == {toy_task.KIND}:
        return [toy_task.load(store, int(i)) for i in run_ids]
    return mnist_task.load(store, run_ids)
