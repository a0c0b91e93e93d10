"""`python -m vitdemo COMMAND ...`: the package's operations for scripts and classroom prep.

Each command lives in its own module here, exposing `register(subparsers)`: it adds its parser and
sets `func` (args → exit status) with `parser.set_defaults(func=run)`. Adding a command is one
line in `SUBCOMMANDS`; a module that does not exist yet is skipped.

Exit statuses (see `vitdemo.cli.common`): 0 ok, 1 bad input or model not available, 2 usage
error, 3 internal error. A user's mistake is one line on stderr, never a traceback; `--debug`
shows the traceback of internal errors.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
import warnings
from collections.abc import Sequence
from types import ModuleType

from vitdemo.cli.common import EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_USAGE, UsageError
from vitdemo.errors import ModelSpecError, VitdemoError, one_line

# Module names under vitdemo.cli, in the order `--help` lists them.
SUBCOMMANDS = ("predict", "explain", "inside", "models", "shapes", "finetune")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every available subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="vitdemo",
        description="See how Vision Transformers and ResNets see images.",
        epilog="Run `vitdemo COMMAND --help` for a command's options.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMANDS:
        _register(name, subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns its exit status (the console script passes it to sys.exit)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args_list
    if debug:  # accepted anywhere on the line, not only before the command
        args_list = ["--debug", *(a for a in args_list if a != "--debug")]
    try:
        args = build_parser().parse_args(args_list)
    except SystemExit as stop:  # --help (0) or a usage error (2, message already printed)
        return stop.code if isinstance(stop.code, int) else EXIT_USAGE
    with warnings.catch_warnings():
        if not debug:
            warnings.simplefilter("ignore")  # library deprecation chatter is not for end users
        return _run(args, debug)


def _run(args: argparse.Namespace, debug: bool) -> int:
    handler = getattr(args, "func", None) or getattr(args, "handler", None)
    try:
        return int(handler(args) or 0)
    except (UsageError, ModelSpecError) as err:
        print(f"vitdemo {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except VitdemoError as err:
        print(f"vitdemo {args.command}: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("vitdemo: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `vitdemo predict ... | head`: the reader left, nothing to report
        sys.stdout = None  # type: ignore[assignment]  # no flush of a closed pipe at exit
        return EXIT_BAD_INPUT
    except Exception as err:
        if debug:
            traceback.print_exc()
        hint = "" if debug else "; run again with --debug for the traceback"
        print(
            f"internal error: {type(err).__name__}: {one_line(err)} (a bug in vitdemo{hint})", file=sys.stderr
        )
        return EXIT_INTERNAL


def _register(name: str, subparsers: argparse._SubParsersAction) -> None:
    try:
        module = _import_subcommand(name)
        if module is not None and hasattr(module, "register"):
            module.register(subparsers)
    except Exception as err:  # one broken command must not take the others down
        _register_broken(name, subparsers, err)


def _register_broken(name: str, subparsers: argparse._SubParsersAction, err: Exception) -> None:
    if name in subparsers.choices:
        return  # it failed after adding its parser; running it reports the bug itself
    parser = subparsers.add_parser(name, help="(cannot be loaded: a bug)", add_help=False)
    parser.add_argument("rest", nargs=argparse.REMAINDER)

    def fail(_args: argparse.Namespace) -> int:
        raise RuntimeError(f"the {name} command cannot be loaded ({type(err).__name__}: {one_line(err)})")

    parser.set_defaults(func=fail)


def _import_subcommand(name: str) -> ModuleType | None:
    qualified = f"{__name__}.{name}"
    try:
        return importlib.import_module(qualified)
    except ModuleNotFoundError as err:
        if err.name == qualified:
            return None  # not written yet
        raise
