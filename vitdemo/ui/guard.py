"""Keep tracebacks off the page: every failure becomes one sentence for a person.

`VitdemoError`s already carry that sentence. Anything else is a bug: it is logged with its
traceback for the developer (server console) and the page shows a short, honest line.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from vitdemo.errors import VitdemoError

log = logging.getLogger("vitdemo.app")


def one_line(err: BaseException) -> str:
    """The message of an error as a single line, for a person.

    `VitdemoError`s are written for people already; for anything else the type name is kept so
    a bug report stays useful, but never the traceback.
    """
    text = " ".join(str(err).split()) or type(err).__name__
    if isinstance(err, VitdemoError):
        return text
    return f"Something went wrong ({type(err).__name__}: {text[:200]}). The details are in the server log."


def logged_line(err: BaseException, where: str) -> str:
    """`one_line(err)`, after logging the traceback of anything that is not a `VitdemoError` (a bug)."""
    if not isinstance(err, VitdemoError):
        log.error("Unexpected error in %s", where, exc_info=err)
    return one_line(err)


@contextmanager
def shown_errors(where: str = "this part of the page") -> Iterator[None]:
    """Run a block; on an error, show one line with `st.error` and carry on with the rest of the page.

    Streamlit's own control flow (`st.stop`, `st.rerun`) derives from BaseException, not Exception,
    so it passes through untouched.

    Args:
        where: names the failed part in the developer log.
    """
    try:
        yield
    except Exception as err:
        st.error(logged_line(err, where), icon=":material/error:")
