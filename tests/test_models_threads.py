"""Threads per op: a small model runs single-threaded (its ops are too short to share), a big one keeps the setting."""

from __future__ import annotations

import dataclasses
import threading

import torch
from explain_models import input_tensor, random_image, small_resnet

from vitdemo.models import threads as model_thread_counts
from vitdemo.models.threads import SMALL_MODEL_PARAMETERS, model_threads, threads_for


def test_a_small_model_runs_on_one_thread_and_the_setting_comes_back():
    model = small_resnet(size=64)
    x = input_tensor(model, random_image(0))
    seen: list[int] = []
    model.network.register_forward_pre_hook(lambda *_: seen.append(torch.get_num_threads()))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with model_threads(model), torch.inference_mode():
            model.logits(x)
        assert seen == [1]
        assert torch.get_num_threads() == 2  # the thread's own setting is back
    finally:
        torch.set_num_threads(before)


def test_a_big_model_gets_the_process_setting_even_in_a_thread_started_during_a_small_ones_call():
    small = small_resnet(size=64)
    big = dataclasses.replace(small, network=torch.nn.Linear(2500, 2500))
    assert sum(p.numel() for p in big.network.parameters()) > SMALL_MODEL_PARAMETERS
    process = model_thread_counts._process_threads
    assert threads_for(small) == 1 and threads_for(big) == process
    seen: list[int] = []

    def explain_big() -> None:  # as a Streamlit script thread, started while another runs a small model
        with model_threads(big):
            seen.append(torch.get_num_threads())

    with model_threads(small):
        other = threading.Thread(target=explain_big)
        other.start()
        other.join()
    assert seen == [process]
