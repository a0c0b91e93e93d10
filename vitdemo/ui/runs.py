"""The server's one fine-tuning run manager, shared by the app's start and the Fine-tune page."""

from __future__ import annotations

import streamlit as st

from vitdemo.train import RunManager, default_runs_root


def _stop_dispatching(manager: RunManager) -> None:
    # A cleared cache (tests, "Clear cache") stops this manager's watcher thread; its runs go on in
    # their worker processes, and the next manager picks up what is queued.
    manager.close(stop_runs=False)


@st.cache_resource(show_spinner=False, on_release=_stop_dispatching)
def run_manager(root: str) -> RunManager:
    """One manager per runs folder for the whole server: runs outlive tabs and sessions.

    Creating it starts the runs an earlier server left queued, so `app.py` calls it on every run:
    after a restart queued runs resume without anyone opening the Fine-tune page.
    """
    return RunManager(root)


def shared_run_manager() -> RunManager:
    """The manager of the default runs folder (`VITDEMO_RUNS_DIR` or the user's runs folder)."""
    return run_manager(str(default_runs_root()))
