"""The one skeleton of every `python -m core.<experiment>` command: flags declared once, outputs
checked before any work, one exit-code rule, and never a traceback.

What: `Parser` (an ArgumentParser whose errors are one line), typed flag values that name the
bad value and what is allowed (`count`, `positive`, `fraction`, `k_value`, ...), shared flag
groups (`add_mlp_flags`, `add_runtime_flags`, `add_executor_flags`, `add_output_flags`), the
checks run before training (`check_outputs`, `apply_threads`; core.engine.commands adds
`open_lab` and `make_executor_of`) and `main_of`, which wraps a command's body with the exit-code
rule:

    0    every run ended done or diverged (a diverged run is a result, reported as such)
    1    a run failed or was interrupted (its error on stderr, one line per distinct error),
         or the environment is wrong (data missing, run database unreadable)
    2    bad arguments (one line naming the value and what is allowed)
    130  stopped by Ctrl-C (the finished epochs are kept; the runs end "stopped")

Why: six commands declared their flags by hand and had drifted (the same flag meaning two
things, errors found only after training, failures reported as "stopped" with exit 0).

How:

    parser = Parser(prog="python -m core.x", description="...")
    add_mlp_flags(parser); add_runtime_flags(parser); add_executor_flags(parser); add_output_flags(parser)
    def body(args) -> int:
        lab = open_lab(args)                            # --db, recovery of dead processes' runs
        statuses, errors = ...                          # train through lab.run_here
        return exit_status(statuses, errors)
    main = main_of(parser, body)                        # main(argv) -> exit code
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from core.kvalue import K_MAX, K_MIN, parse_k

OK, FAILED_EXIT, USAGE, INTERRUPTED_EXIT = 0, 1, 2, 130
DEBUG_ENV = "TUNABLE_DEBUG"  # set to 1 to let unexpected errors show their traceback


class CliError(Exception):
    """A problem the user can fix; `code` is the exit status (2: arguments, 1: environment)."""

    def __init__(self, message: str, code: int = USAGE) -> None:
        super().__init__(message)
        self.code = code


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: `prog: error: message (see --help)`, exit 2."""

    def error(self, message: str):  # noqa: D102 - argparse's hook
        raise CliError(f"{message} (see {self.prog} --help)", USAGE)


# ----------------------------------------------------------------------------- typed values

def _number(text: str, what: str) -> float:
    """A finite, normal float from text; CliError-free: argparse turns ArgumentTypeError into one line."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number: give {what}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not finite: give {what}")
    if value != 0 and abs(value) < sys.float_info.min:
        raise argparse.ArgumentTypeError(f"{text!r} is too close to 0 to compute with: give {what}")
    return value


def _integer(text: str, lo: int, hi: int | None, what: str) -> int:
    try:
        value = int(str(text).replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number: give {what}") from None
    if value < lo or (hi is not None and value > hi):
        raise argparse.ArgumentTypeError(f"{text!r} is out of range: give {what}")
    return value


def count(lo: int = 1, hi: int | None = None) -> Callable[[str], int]:
    """A whole number in [lo, hi]."""
    what = f"a whole number >= {lo}" if hi is None else f"a whole number in {lo}..{hi}"
    return lambda text: _integer(text, lo, hi, what)


def finite(text: str) -> float:
    """Any finite, normal number (the config checks its range)."""
    return _number(text, "a finite number")


def whole(text: str) -> int:
    """Any whole number (the config checks its range)."""
    return _integer(text, -(2**63), 2**63 - 1, "a whole number")


def positive(text: str) -> float:
    """A finite number > 0 (learning rates, clip norms)."""
    value = _number(text, "a finite number > 0")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be > 0")
    return value


def non_negative(text: str) -> float:
    """A finite number >= 0 (weight decay)."""
    value = _number(text, "a finite number >= 0")
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 0")
    return value


def fraction(text: str) -> float:
    """A number in [0, 1) (momentum, noise rates)."""
    value = _number(text, "a number in [0, 1)")
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be in [0, 1)")
    return value


def k_value(text: str) -> float:
    """A k: 0.25, 1/4 or 2^-2, between K_MIN and K_MAX."""
    try:
        return parse_k(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# ----------------------------------------------------------------------------- shared flags

def add_mlp_flags(parser: argparse.ArgumentParser, *, hidden: Sequence[int] = (800,), epochs: int = 3,
                  lr: Sequence[float] | None = (0.1,), n_train: int | None = None, n_val: int | None = None,
                  train_eval: int | None = 10_000, seeds: Sequence[int] = (0,), also: str = "") -> None:
    """The MLP training flags, with one meaning everywhere. Sizes left out mean the command's
    default (None: all images); --clip-norm 0 disables clipping."""
    g = parser.add_argument_group("training (MLP on an image set)")
    g.add_argument("--dataset", default="mnist",
                   help=f"mnist, fashion-mnist, cifar10, cifar100, svhn{also} (default: mnist)")
    g.add_argument("--hidden", type=count(1, 100_000), nargs="*", default=list(hidden),
                   help=f"hidden widths (default: {' '.join(map(str, hidden))})")
    g.add_argument("--activation", default="relu", help="relu, tanh, sigmoid, ... (default: relu)")
    g.add_argument("--lr", type=positive, nargs="+", default=None if lr is None else list(lr),
                   help=f"learning rates (default: {'per method' if lr is None else ' '.join(map(str, lr))})")
    g.add_argument("--momentum", type=fraction, default=0.5, help="SGD momentum in [0, 1) (default: 0.5)")
    g.add_argument("--weight-decay", type=non_negative, default=None, help="L2 weight decay (default: 0)")
    g.add_argument("--clip-norm", type=non_negative, default=100.0,
                   help="global gradient-norm clip; 0 disables (default: 100)")
    g.add_argument("--batch-size", type=count(1, 1_000_000), default=128, help="minibatch size (default: 128)")
    g.add_argument("--epochs", type=count(1, 100_000), default=epochs, help=f"epochs (default: {epochs})")
    g.add_argument("--seeds", type=count(0, 2**31 - 1), nargs="+", default=list(seeds),
                   help="seeds: initialization and data order (default: " + " ".join(map(str, seeds)) + ")")
    g.add_argument("--k-schedule", default=None, metavar="SPEC",
                   help="k changing over training, e.g. linear:0.25:2 (see core.schedule); replaces --k")
    sizes = parser.add_argument_group("data sizes (left out: the default shown)")
    sizes.add_argument("--n-train", type=count(1), default=n_train,
                       help=f"training images (default: {'all' if n_train is None else f'{n_train:,}'})")
    sizes.add_argument("--n-val", type=count(1), default=n_val,
                       help=f"validation images (default: {'all' if n_val is None else f'{n_val:,}'})")
    sizes.add_argument("--n-test", type=count(1), default=None, help="test images (default: all)")
    sizes.add_argument("--train-eval", type=count(0), default=train_eval,
                       help="training images re-evaluated each epoch for the train metrics; 0: all "
                            f"(default: {train_eval if train_eval is not None else 'all'})")
    sizes.add_argument("--noise-seed", type=count(0, 2**31 - 1), default=0, help="seeds the label flips (default: 0)")


def add_runtime_flags(parser: argparse.ArgumentParser) -> None:
    """--device, --threads, --data-dir and --db: where it computes, reads data and saves runs."""
    g = parser.add_argument_group("where it runs")
    g.add_argument("--device", default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda, mps")
    g.add_argument("--threads", type=count(1, 1024), default=None, help="torch CPU threads (default: torch's choice)")
    g.add_argument("--data-dir", default=None, help="data directory (default: $TUNABLE_DATA_DIR or the cache)")
    g.add_argument("--db", default=None, metavar="PATH",
                   help="run database (default: $TUNABLE_RUNS_DB, else <data dir>/runs.sqlite)")


def add_executor_flags(parser: argparse.ArgumentParser) -> None:
    """--executor and --ray-address (a command's user chooses the cluster; pages never do)."""
    g = parser.add_argument_group("executor")
    g.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="local: train in this process (default); ray: one Ray task per batched group")
    g.add_argument("--ray-address", default=None, metavar="HOST:PORT",
                   help="join this Ray cluster; default with --executor ray: start a local Ray")


def add_output_flags(parser: argparse.ArgumentParser, *, csv: str | None = "write the table as CSV here",
                     json: str | None = "write the results as JSON here") -> None:
    """--json, --csv (checked for writability before any training) and --quiet."""
    g = parser.add_argument_group("output")
    if json:
        g.add_argument("--json", default=None, metavar="PATH", help=json)
    if csv:
        g.add_argument("--csv", default=None, metavar="PATH", help=csv)
    g.add_argument("--quiet", action="store_true", help="no progress on stderr")


# ----------------------------------------------------------------------------- checks before work

def check_outputs(args: argparse.Namespace, names: Iterable[str] = ("json", "csv", "npz")) -> None:
    """CliError (exit 2) unless every given output path can be written: not a directory, its
    folder exists and is writable, an existing file is writable. Runs before any training."""
    for name in names:
        path = getattr(args, name, None)
        if not path:
            continue
        flag, p = f"--{name}", Path(path).expanduser()
        if p.is_dir():
            raise CliError(f"{flag} {path}: is a directory; give a file path, e.g. {p / ('out.' + name)}")
        folder = p.parent if str(p.parent) else Path(".")
        if not folder.is_dir():
            raise CliError(f"{flag} {path}: the folder {folder} does not exist")
        if (p.exists() and not os.access(p, os.W_OK)) or not os.access(folder, os.W_OK):
            raise CliError(f"{flag} {path}: not writable")


def apply_threads(args: argparse.Namespace) -> None:
    """torch.set_num_threads(--threads) when given."""
    if getattr(args, "threads", None):
        import torch

        torch.set_num_threads(args.threads)


# ----------------------------------------------------------------------------- the exit-code rule

def exit_status(statuses: Iterable[str], errors: Iterable[str | None] = ()) -> int:
    """0 when every run ended done or diverged, 1 when any failed or was interrupted (each distinct
    error printed once on stderr), 130 when runs were stopped (Ctrl-C). A diverged run is a result,
    not an error: its reason is a note. `errors` may pair with `statuses` (same length) or not."""
    statuses, errors = list(statuses), list(errors)
    paired = zip(statuses, errors) if len(errors) == len(statuses) else ((None, e) for e in errors)
    failed = any(s in ("failed", "interrupted") for s in statuses)
    diverged = statuses.count("diverged")
    seen: dict[str, set] = {}  # each distinct message, once: the statuses of the runs it came from
    for status, error in paired:
        if error and error.strip():
            seen.setdefault(error.strip().splitlines()[0], set()).add(status)
    for error, of in seen.items():
        if of == {"diverged"} or (of == {None} and not failed and diverged):
            print(f"note: {diverged} of {len(statuses)} run(s) diverged: {error}", file=sys.stderr)
        else:
            print(f"error: {error}", file=sys.stderr)
    if any(s in ("failed", "interrupted") for s in statuses):
        return FAILED_EXIT
    if any(s in ("stopped", "queued", "running") for s in statuses):
        return INTERRUPTED_EXIT
    return OK


def main_of(parser: argparse.ArgumentParser, body: Callable[[argparse.Namespace], int],
            expected: tuple[type[BaseException], ...] = ()) -> Callable[..., int]:
    """`main(argv=None) -> exit status`: parse, run `body`, apply the exit-code rule. Bad values
    (ValueError from a config) exit 2; `expected` errors (the environment: missing data, an
    unreadable database) and OSError exit 1; Ctrl-C exits 130; any unexpected error is one line
    too (set TUNABLE_DEBUG=1 for its traceback)."""

    def main(argv: Sequence[str] | None = None) -> int:
        prog = parser.prog
        try:
            args = parser.parse_args(argv)
            return body(args)
        except CliError as exc:
            print(f"{prog}: error: {exc}", file=sys.stderr)
            return exc.code
        except KeyboardInterrupt:
            print(f"{prog}: stopped", file=sys.stderr)
            return INTERRUPTED_EXIT
        except (*expected, OSError) as exc:
            print(f"{prog}: error: {exc}", file=sys.stderr)
            return FAILED_EXIT
        except ValueError as exc:
            print(f"{prog}: error: {exc}", file=sys.stderr)
            return USAGE
        except Exception as exc:  # noqa: BLE001 - the promise is: no traceback for the user
            if os.environ.get(DEBUG_ENV):
                raise
            first = (str(exc).strip().splitlines() or [""])[0]
            print(f"{prog}: error: unexpected {type(exc).__name__}: {first} (set {DEBUG_ENV}=1 for details)",
                  file=sys.stderr)
            return FAILED_EXIT

    return main


def run(main: Callable[[], int]) -> None:
    """The `__main__` line: sys.exit(main()), with a broken stdout pipe (| head) not a traceback."""
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 0
    sys.exit(code)


__all__ = ["CliError", "K_MAX", "K_MIN", "Parser", "add_executor_flags", "add_mlp_flags", "add_output_flags",
           "add_runtime_flags", "apply_threads", "check_outputs", "count", "exit_status", "finite", "fraction", "k_value",
           "main_of", "non_negative", "positive", "run", "whole"]
