"""`python -m core.noise`: the label-noise comparison from the shell (see --help).

Trains objectives x noise rates x seeds on MNIST (or the k family on the 1-D toy) on the main
thread through core.engine.lab, so every run is saved in the run store and shows in the
dashboard; Ctrl-C stops cleanly (finished epochs kept). Prints mean ± std over seeds.

    python -m core.noise --rates 0.4 --seeds 0 1 --n-train 10000 --epochs 8 [--executor ray]
    python -m core.noise --dataset toy --rates 0 0.2 0.4
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import threading
import time

import pandas as pd
import torch

from core.data import MnistUnavailableError
from core.engine import ExecutorUnavailableError, add_executor_args, make_executor
from core.engine.lab import Lab
from core.engine.status import to_jsonable
from core.labelnoise import NOISE_KINDS
from core.mnist import DataConfig, TrainConfig
from core.mnist.task import run_here as run_mnist
from core.noise.grid import (DATASETS, DEFAULT_MOMENTUM, EFFECTIVE_LR, UNHINGED_WEIGHT_DECAY, comparison_configs,
                             method_of, toy_configs)
from core.noise.summary import format_table, summarize, summarize_toy
from core.toy import ToyConfig
from core.toy.task import run_here as run_toy_here

MNIST_OBJECTIVES = ("ce", "tunable:k=0.25", "tunable:k=0.5", "gce", "sce", "mae", "unhinged")
TOY_OBJECTIVES = ("tunable:k=4", "ce", "tunable:k=0.25", "tunable:k=0.0625")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m core.noise",
        description="Compare the k family with noise-robust losses on noisy labels: train objectives x noise "
                    "rates x seeds (MNIST or the 1-D toy) and print mean ± std over seeds of the final clean test "
                    "accuracy, test CE, fit to the noisy and the true training labels, and the memorized fraction.",
        epilog="Default learning rates (--lr not given): lr = s * (1 - momentum) with the effective step s per "
               "objective: " + ", ".join(f"{k} {v:g}" for k, v in EFFECTIVE_LR.items()) + " (tunable with k > 1: 1). "
               f"Unhinged is unbounded below and gets weight decay {UNHINGED_WEIGHT_DECAY:g} by default. "
               "Example: python -m core.noise --rates 0.4 --seeds 0 1 --n-train 10000 --epochs 8",
    )
    parser.add_argument("--objectives", nargs="+", default=None, metavar="SPEC[@LR]",
                        help="objectives, e.g. ce tunable:k=0.25 gce:q=0.7 sce nce_rce mae focal unhinged; "
                             "'@LR' sets one's learning rate (e.g. mae@0.3). Default (mnist): "
                             + " ".join(MNIST_OBJECTIVES) + "; (toy): " + " ".join(TOY_OBJECTIVES))
    parser.add_argument("--dataset", choices=DATASETS, default="mnist",
                        help="mnist, or toy (the 1-D threshold task; the k family only, ce = k=1)")
    parser.add_argument("--noise", choices=NOISE_KINDS[1:], default="symmetric",
                        help="MNIST noise: symmetric (to a uniform other class) or asymmetric (7->1, 2->7, 5<->6, "
                             "3->8); the toy's two classes always swap")
    parser.add_argument("--rates", type=float, nargs="+", default=[0.4], help="noise rates in [0, 1) (0: clean)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1],
                        help="MNIST: init and data-order seeds; toy: one data draw each")
    parser.add_argument("--noise-seed", type=int, default=0, help="seeds the label flips (MNIST)")
    mnist = parser.add_argument_group("MNIST training")
    mnist.add_argument("--hidden", type=int, nargs="*", default=[256], help="hidden widths (default: 256)")
    mnist.add_argument("--epochs", type=int, default=8)
    mnist.add_argument("--lr", type=float, default=None, help="one learning rate for all (default: per objective)")
    mnist.add_argument("--momentum", type=float, default=DEFAULT_MOMENTUM)
    mnist.add_argument("--weight-decay", type=float, default=None,
                       help=f"one weight decay for all (default: {UNHINGED_WEIGHT_DECAY:g} for unhinged, else 0)")
    mnist.add_argument("--clip-norm", type=float, default=100.0, help="global gradient-norm clip; 0 disables")
    mnist.add_argument("--batch-size", type=int, default=128)
    mnist.add_argument("--activation", default="relu")
    mnist.add_argument("--n-train", type=int, default=10_000, help="training images (default: 10,000; 0: all 50,000)")
    mnist.add_argument("--n-val", type=int, default=2_000, help="validation images (default: 2,000; 0: all)")
    mnist.add_argument("--n-test", type=int, default=0, help="test images (default 0: all 10,000)")
    mnist.add_argument("--train-eval", type=int, default=5_000,
                       help="training images re-evaluated each epoch for the fit/memorization metrics (0: all)")
    mnist.add_argument("--device", default="auto", help="auto, cpu, cuda, mps")
    mnist.add_argument("--data-dir", default=None)
    toy = parser.add_argument_group("toy")
    toy.add_argument("--toy-n", type=int, default=10_000, help="points per split (train = val = test)")
    toy.add_argument("--toy-patience", type=int, default=3000, help="stopping window in epochs")
    toy.add_argument("--toy-max-epochs", type=int, default=200_000)
    toy.add_argument("--toy-lr", type=float, default=0.01)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--csv", default=None, help="write the table (means and stds) as CSV here")
    parser.add_argument("--json", default=None, help="write the settings, the table and every run's final metrics here")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    add_executor_args(parser)
    return parser


def _train(args, objectives, executor, log):
    """Train the grid on the engine; returns (results, settings for the JSON)."""
    lab = Lab()
    if args.dataset == "mnist":
        base = TrainConfig(hidden=tuple(args.hidden), activation=args.activation, momentum=args.momentum,
                           clip_norm=args.clip_norm or None, batch_size=args.batch_size, epochs=args.epochs)
        configs = comparison_configs(objectives, args.rates, args.seeds, args.noise, base, args.lr,
                                     args.weight_decay, args.noise_seed)
        data = DataConfig(n_train=args.n_train or None, n_val=args.n_val or None, n_test=args.n_test or None,
                          train_eval=args.train_eval or None, device=args.device, data_dir=args.data_dir)
        _, results = run_mnist(lab, configs, data, kind="noise", executor=executor,
                               on_event=lambda gi, e: log(f"group {gi + 1}: {e}") if hasattr(e, "status") else None)
        return results, {"data": dataclasses.asdict(data), "base": base.to_dict()}
    base = ToyConfig(n_train=args.toy_n, n_val=args.toy_n, n_test=args.toy_n, patience=args.toy_patience,
                     max_epochs=args.toy_max_epochs, lr=args.toy_lr, device=args.device)
    cancel, results = threading.Event(), []  # one Ctrl-C stops this rate and skips the rest
    for cfg in toy_configs(objectives, args.rates, args.seeds, base):
        if cancel.is_set():
            break
        log(f"toy: label noise {cfg.label_noise:.0%}, k = {', '.join(f'{k:g}' for k in cfg.ks)}, {cfg.runs} run(s)")
        results.append(run_toy_here(lab, cfg, executor=executor, cancel=cancel))
    return results, {"base": dataclasses.asdict(base)}


def _runs_json(dataset: str, results) -> list[dict]:
    if dataset == "mnist":
        return [{"label": r.config.label, **method_of(r.config), "rate": r.config.noise.rate, "status": r.status,
                 "config": r.config.to_dict(), "final": r.final} for r in results]
    return [{"rate": r.config.label_noise, "status": r.status, "per_run": r.per_run.to_dict("records")}
            for r in results]


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    objectives = args.objectives or list(MNIST_OBJECTIVES if args.dataset == "mnist" else TOY_OBJECTIVES)
    log = (lambda *a: None) if args.quiet else (lambda text: print(text, file=sys.stderr, flush=True))
    start = time.perf_counter()
    try:
        executor = make_executor(args.executor, args.ray_address)
        results, settings = _train(args, objectives, executor, log)
    except (ValueError, ExecutorUnavailableError) as exc:
        parser.error(str(exc))
    except MnistUnavailableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    table = summarize(results) if args.dataset == "mnist" else summarize_toy(results)
    seconds = time.perf_counter() - start
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(format_table(table).to_string(index=False))
    noise = f"MNIST, {args.noise} label noise" if args.dataset == "mnist" else "toy, training labels flipped at random"
    print(f"{noise}; final epoch (toy: at the stopping rule), mean ± std over seeds; {seconds:.0f} s")
    if args.csv:
        table.to_csv(args.csv, index=False)
    if args.json:
        payload = {"dataset": args.dataset, "noise": args.noise, "objectives": objectives, "rates": args.rates,
                   "seeds": args.seeds, "settings": settings, "seconds": seconds,
                   "table": table.to_dict("records"), "runs": _runs_json(args.dataset, results)}
        with open(args.json, "w") as fh:
            json.dump(to_jsonable(payload), fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
