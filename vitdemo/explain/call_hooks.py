"""Forward hooks owned by one explain call on a shared network.

The network is shared between Streamlit threads, so a hook must never outlive the call that
registered it, and must ignore forward passes other threads run meanwhile. `CallHooks` is a
context manager: it registers hooks that only record in the registering thread and removes
every one of them on exit, also when the forward pass raised. Register and run under
`model.lock` so two calls never add hooks to the same module at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

import torch

Recorder = Callable[[Any], None]


class CallHooks:
    """Hooks that record into call-owned state and are gone when the `with` block ends."""

    def __init__(self) -> None:
        self._owner = threading.get_ident()
        self._handles: list[torch.utils.hooks.RemovableHandle] = []

    def record_output(self, module: torch.nn.Module, record: Recorder) -> None:
        """Call `record(output)` after each forward of `module` in this thread."""

        def hook(_module: torch.nn.Module, _args: tuple[Any, ...], output: Any) -> None:
            if threading.get_ident() == self._owner:
                record(output)

        self._handles.append(module.register_forward_hook(hook))

    def record_input(self, module: torch.nn.Module, record: Recorder) -> None:
        """Call `record(first positional input)` before each forward of `module` in this thread."""

        def hook(_module: torch.nn.Module, args: tuple[Any, ...]) -> None:
            if threading.get_ident() == self._owner:
                record(args[0])

        self._handles.append(module.register_forward_pre_hook(hook))

    def remove(self) -> None:
        """Remove every hook this object registered (idempotent)."""
        while self._handles:
            self._handles.pop().remove()

    def __enter__(self) -> CallHooks:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.remove()
