"""What every subcommand shares: exit statuses and the usage-error type."""

from __future__ import annotations

import argparse

from vitdemo.errors import VitdemoError

EXIT_OK = 0  # everything worked
EXIT_BAD_INPUT = 1  # some input (an image, a model that is not here) could not be used
EXIT_USAGE = 2  # the command line itself is wrong (argparse uses 2 as well)
EXIT_INTERNAL = 3  # a bug: reported in one line, traceback only with --debug


class UsageError(VitdemoError):
    """A command-line mistake a subcommand finds after parsing (exit status 2)."""


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1, with a readable message otherwise."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {value})")
    return value
