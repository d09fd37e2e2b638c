"""`python -m core.noise`: the label-noise comparison from the shell (see --help).

Trains objectives x noise rates x seeds on MNIST (or the k family on the 1-D toy) on the main
thread through core.engine.lab, so every run is saved in the run store and shows in the
dashboard; Ctrl-C stops cleanly (finished epochs kept). Prints mean ± std over seeds.

    python -m core.noise --rates 0.4 --seeds 0 1 --n-train 10000 --epochs 8 [--executor ray]
    python -m core.noise --dataset toy --rates 0 0.2 0.4
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time

import pandas as pd

from core.cli import (CliError, Parser, add_executor_flags, add_mlp_flags, add_output_flags, add_runtime_flags,
                      apply_threads, check_outputs, count, exit_status, fraction, main_of, positive, run)
from core.data import DatasetUnavailableError
from core.engine.commands import ENVIRONMENT_ERRORS, make_executor_of, open_lab
from core.engine.status import to_jsonable
from core.kvalue import format_k
from core.labelnoise import NOISE_KINDS
from core.mnist import DataConfig, TrainConfig
from core.noise.grid import (DEFAULT_MOMENTUM, EFFECTIVE_LR, UNHINGED_WEIGHT_DECAY, comparison_configs,
                             method_of, toy_configs)
from core.noise.summary import format_table, summarize, summarize_toy
from core.noise.task import run_here
from core.toy import ToyConfig

MNIST_OBJECTIVES = ("ce", "tunable:k=0.25", "tunable:k=0.5", "gce", "sce", "mae", "unhinged")
TOY_OBJECTIVES = ("tunable:k=4", "ce", "tunable:k=0.25", "tunable:k=0.0625")


def _parser() -> Parser:
    parser = Parser(
        prog="python -m core.noise",
        description="Compare the k family with noise-robust losses on noisy labels: train objectives x noise "
                    "rates x seeds (MNIST or the 1-D toy) and print mean ± std over seeds of the final clean test "
                    "accuracy, test CE, fit to the noisy and the true training labels, and the memorized fraction.",
        epilog="Default learning rates (--lr not given): lr = s * (1 - momentum) with the effective step s per "
               "objective: " + ", ".join(f"{k} {v:g}" for k, v in EFFECTIVE_LR.items()) + " (tunable with k > 1: 1). "
               f"Unhinged is unbounded below and gets weight decay {UNHINGED_WEIGHT_DECAY:g} by default. "
               "Exit status: 0 every run done or diverged, 1 a run failed, 2 bad arguments, 130 Ctrl-C. "
               "Example: python -m core.noise --rates 0.4 --seeds 0 1 --n-train 10000 --epochs 8",
    )
    parser.add_argument("--objectives", nargs="+", default=None, metavar="SPEC[@LR]",
                        help="objectives, e.g. ce tunable:k=0.25 gce:q=0.7 sce nce_rce mae focal unhinged; "
                             "'@LR' sets one's learning rate (e.g. mae@0.3). Default (mnist): "
                             + " ".join(MNIST_OBJECTIVES) + "; (toy): " + " ".join(TOY_OBJECTIVES))
    parser.add_argument("--noise", choices=NOISE_KINDS[1:], default="symmetric",
                        help="the kind of MNIST noise (its rates: --rates): symmetric (to a uniform other class) or "
                             "asymmetric (7->1, 2->7, 5<->6, 3->8); the toy's two classes always swap")
    parser.add_argument("--rates", type=fraction, nargs="+", default=[0.4], help="noise rates in [0, 1) (0: clean)")
    add_mlp_flags(parser, hidden=(256,), epochs=8, lr=None, n_train=10_000, n_val=2_000, train_eval=5_000,
                  seeds=(0, 1), also=", or toy (the 1-D threshold task)")
    toy = parser.add_argument_group("toy (--dataset toy: the 1-D threshold task; the k family only, ce = k=1)")
    toy.add_argument("--toy-n", type=count(10), default=10_000, help="points per split (train = val = test)")
    toy.add_argument("--toy-patience", type=count(1), default=3000, help="stopping window in epochs")
    toy.add_argument("--toy-max-epochs", type=count(1), default=200_000)
    toy.add_argument("--toy-lr", type=positive, default=0.01)
    add_runtime_flags(parser)
    add_executor_flags(parser)
    add_output_flags(parser, csv="write the table (means and stds) as CSV here",
                     json="write the settings, the table and every run's final metrics here")
    return parser


def _train(args, objectives, executor, log, lab):
    """Train the grid on the engine (core.noise.task.run_here); returns (results, settings for the JSON)."""
    if args.dataset != "toy":
        if args.lr and len(args.lr) > 1:
            raise CliError("--lr takes one learning rate here (it replaces every objective's default)")
        base = TrainConfig(hidden=tuple(args.hidden), activation=args.activation, momentum=args.momentum,
                           clip_norm=args.clip_norm or None, batch_size=args.batch_size, epochs=args.epochs)
        configs = comparison_configs(objectives, args.rates, args.seeds, args.noise, base,
                                     args.lr[0] if args.lr else None, args.weight_decay, args.noise_seed)
        data = DataConfig(dataset=args.dataset, n_train=args.n_train, n_val=args.n_val, n_test=args.n_test,
                          train_eval=args.train_eval or None, device=args.device, data_dir=args.data_dir)
        _, results = run_here(lab, configs, data, executor=executor,
                              on_event=lambda gi, e: log(f"group {gi + 1}: {e.status}") if hasattr(e, "status") else None)
        return results, {"data": dataclasses.asdict(data), "base": base.to_dict()}
    base = ToyConfig(n_train=args.toy_n, n_val=args.toy_n, n_test=args.toy_n, patience=args.toy_patience,
                     max_epochs=args.toy_max_epochs, lr=args.toy_lr, device=args.device)
    configs = toy_configs(objectives, args.rates, args.seeds, base)
    log(f"toy: label noise {', '.join(f'{c.label_noise:.0%}' for c in configs)}, "
        f"k = {', '.join(format_k(k) for k in configs[0].ks)}, {configs[0].runs} run(s) each")
    _, results = run_here(lab, configs, executor=executor)
    return results, {"base": dataclasses.asdict(base)}


def _runs_json(dataset: str, results) -> list[dict]:
    if dataset == "mnist":
        return [{"label": r.config.label, **method_of(r.config), "rate": r.config.noise.rate, "status": r.status,
                 "config": r.config.to_dict(), "final": r.final} for r in results]
    return [{"rate": r.config.label_noise, "status": r.status, "per_run": r.per_run.to_dict("records")}
            for r in results]


def _body(args) -> int:
    check_outputs(args)
    apply_threads(args)
    objectives = args.objectives or list(TOY_OBJECTIVES if args.dataset == "toy" else MNIST_OBJECTIVES)
    log = (lambda *a: None) if args.quiet else (lambda text: print(text, file=sys.stderr, flush=True))
    start = time.perf_counter()
    executor = make_executor_of(args)
    lab = open_lab(args)
    results, settings = _train(args, objectives, executor, log, lab)
    table = summarize(results) if args.dataset != "toy" else summarize_toy(results)
    seconds = time.perf_counter() - start
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(format_table(table).to_string(index=False))
    noise = f"{args.dataset}, {args.noise} label noise" if args.dataset != "toy" else "toy, training labels flipped at random"
    print(f"{noise}; final epoch (toy: at the stopping rule), mean ± std over seeds; {seconds:.0f} s")
    if args.csv:
        table.to_csv(args.csv, index=False)
    if args.json:
        payload = {"dataset": args.dataset, "noise": args.noise, "objectives": objectives, "rates": args.rates,
                   "seeds": args.seeds, "settings": settings, "seconds": seconds,
                   "table": table.to_dict("records"), "runs": _runs_json(args.dataset, results)}
        with open(args.json, "w") as fh:
            json.dump(to_jsonable(payload), fh, indent=1)
    return exit_status([r.status for r in results], [getattr(r, "error", None) for r in results])


main = main_of(_parser(), _body, expected=(DatasetUnavailableError, *ENVIRONMENT_ERRORS))


if __name__ == "__main__":
    run(main)
