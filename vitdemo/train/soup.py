"""Model soup (Wortsman et al. 2022): the uniform average of the best epochs' weights.

The fine-tuning loop offers every epoch to `BestK`, which keeps the best K epochs' trained state;
after the last epoch `make_soup` averages them, evaluates and saves the average as its own
checkpoint, and puts the trained weights back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn


def state_snapshot(network: nn.Module, keys: list[str]) -> dict[str, torch.Tensor]:
    """CPU copies of the state entries `keys` (the ones training changes)."""
    state = network.state_dict()
    return {k: state[k].detach().to("cpu", copy=True) for k in keys}


def average_states(states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Uniform average of state dicts; integer entries (BatchNorm counters) come from the first.

    Args:
        states: state dicts with the same keys, best checkpoint first.
    """
    averaged = {}
    for key, first in states[0].items():
        if first.is_floating_point():
            averaged[key] = torch.stack([s[key].float() for s in states]).mean(0).to(first.dtype)
        else:
            averaged[key] = first.clone()
    return averaged


@dataclass
class BestK:
    """Keeps the K best epochs' trained state, ranked by (accuracy, then lower loss)."""

    k: int
    entries: list[tuple[float, float, int, dict]] = field(default_factory=list)  # (acc, -loss, epoch, state)

    def offer(self, accuracy: float, loss: float, epoch: int, make_state) -> None:
        """Consider an epoch; `make_state()` is only called when the epoch makes the top K."""
        if self.k <= 0:
            return
        key = (accuracy, -loss)
        if len(self.entries) >= self.k and key <= self.entries[-1][:2]:
            return
        self.entries.append((accuracy, -loss, epoch, make_state()))
        self.entries.sort(key=lambda e: (e[0], e[1]), reverse=True)
        del self.entries[self.k :]

    @property
    def epochs(self) -> list[int]:
        return [e[2] for e in self.entries]

    def states(self) -> list[dict]:
        return [e[3] for e in self.entries]


def make_soup(
    network: nn.Module,
    best_k: BestK,
    state_keys: list[str],
    evaluate: Callable[[], dict],
    save: Callable[[dict], None],
) -> dict | None:
    """Average the best K epochs' weights into `network`, evaluate and save them, then restore.

    Args:
        network: the trained network (its current weights are put back afterwards).
        best_k: the epochs kept during training; fewer than two make no soup (None).
        state_keys: the state entries training changed (the others are equal in every epoch).
        evaluate: the validation report of `network` as it is now.
        save: writes the soup checkpoint, given its report.

    Returns:
        {"epochs", "report"} of the soup, or None.
    """
    if len(best_k.entries) < 2:
        return None
    current = state_snapshot(network, state_keys)
    network.load_state_dict(average_states(best_k.states()), strict=False)
    report = evaluate()
    save(report)
    network.load_state_dict(current, strict=False)
    return {"epochs": best_k.epochs, "report": report}
