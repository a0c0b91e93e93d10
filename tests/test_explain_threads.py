"""A shared model stays shared: concurrent calls agree with sequential ones; nothing is left behind."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from explain_models import (
    grad_flags,
    hf_vit,
    hook_counts,
    input_tensor,
    random_image,
    small_resnet,
    timm_vit,
)

from vitdemo.errors import VitdemoError
from vitdemo.explain import cam_layers, explain
from vitdemo.models.batching import batched_logits

MODELS = {
    "timm-vit": lambda: timm_vit(reg_tokens=2),
    "hf-vit": hf_vit,
    "resnet": lambda: small_resnet(size=64),
}


def assert_same(a, b):
    assert [s.index for s in a.top_k] == [s.index for s in b.top_k]
    np.testing.assert_array_equal(a.logits, b.logits)
    assert set(a.maps) == set(b.maps)
    for name in a.maps:
        np.testing.assert_array_equal(a.raw_maps[name], b.raw_maps[name], err_msg=name)
        np.testing.assert_array_equal(a.maps[name], b.maps[name], err_msg=name)
    if a.attentions is not None:
        assert torch.equal(a.attentions, b.attentions)


@pytest.mark.parametrize("kind", MODELS)
def test_eight_threads_on_one_model_equal_one_by_one(kind):
    model = MODELS[kind]()
    images = [random_image(seed) for seed in range(8)]
    methods = ["gradcam", "layercam"] if kind == "resnet" else ["cls", "rollout", "relevance", "gradcam"]
    sequential = [explain(model, image, methods=methods) for image in images]
    with ThreadPoolExecutor(max_workers=8) as pool:
        concurrent = list(pool.map(lambda image: explain(model, image, methods=methods), images))
    for one, other in zip(sequential, concurrent, strict=True):
        assert_same(one, other)
    assert len({r.top_k[0].prob for r in sequential}) > 1  # the images really differ


@pytest.mark.parametrize("kind", MODELS)
def test_predictions_beside_explanations_get_what_they_get_alone(kind):
    """Top-3 requests do not take the model's lock, so they run during other calls' hooked passes."""
    model = MODELS[kind]()
    images = [random_image(seed) for seed in range(6)]
    inputs = [input_tensor(model, image) for image in images]
    with torch.inference_mode():
        alone_logits = [model.logits(x).float() for x in inputs]
    alone_maps = [explain(model, image) for image in images]

    def job(i: int):
        return batched_logits(model, inputs[i // 2]) if i % 2 else explain(model, images[i // 2])

    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(job, range(12)))
    for i, result in enumerate(results):
        if i % 2:
            torch.testing.assert_close(result, alone_logits[i // 2], rtol=1e-4, atol=1e-5)
        else:
            assert_same(result, alone_maps[i // 2])


def test_a_prediction_does_not_wait_for_the_lock_of_an_explanation():
    model = MODELS["timm-vit"]()
    x = input_tensor(model, random_image(3))
    with torch.inference_mode():
        alone = model.logits(x).float()
    answered, got = threading.Event(), {}

    def ask() -> None:
        got["logits"] = batched_logits(model, x)
        answered.set()

    with model.lock:  # what an explanation holds while its hooks are on the network
        asker = threading.Thread(target=ask, daemon=True)
        asker.start()
        in_time = answered.wait(timeout=30)
    asker.join()
    assert in_time, "the top-3 waited for another call's explanation"
    torch.testing.assert_close(got["logits"], alone, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", MODELS)
def test_threads_asking_for_different_cam_layers_each_get_their_own(kind):
    model = MODELS[kind]()
    layers = cam_layers(model)
    explain(model, random_image(9))  # transformers installs its own lazy capture hooks on first use
    hooks = hook_counts(model.network)
    jobs = [(random_image(seed), layers[seed % len(layers)]) for seed in range(8)]

    def run(job):
        image, layer = job
        return explain(model, image, methods=["gradcam", "eigencam"], cam_layer=layer)

    sequential = [run(job) for job in jobs]
    with ThreadPoolExecutor(max_workers=8) as pool:
        concurrent = list(pool.map(run, jobs))
    for (_, layer), one, other in zip(jobs, sequential, concurrent, strict=True):
        assert other.cam_layer == layer
        assert_same(one, other)
    assert hook_counts(model.network) == hooks


@pytest.mark.parametrize("kind", MODELS)
def test_no_hook_left_and_grad_flags_restored(kind):
    model = MODELS[kind]()
    # A mix of frozen and trainable weights, as a caller might leave them.
    for i, p in enumerate(model.network.parameters()):
        p.requires_grad_(i % 3 != 0)
    explain(model, random_image(0))  # transformers installs its own lazy capture hooks on first use
    hooks, flags = hook_counts(model.network), grad_flags(model.network)
    explain(model, random_image(1), methods=None)
    assert hook_counts(model.network) == hooks
    assert grad_flags(model.network) == flags
    assert all(p.grad is None for p in model.network.parameters())  # no gradient left on shared weights


def test_frozen_model_still_gets_gradient_maps():
    model = timm_vit()
    model.network.requires_grad_(False)
    result = explain(model, random_image(3), methods=["relevance", "gradcam"])
    assert result.raw_maps["relevance"].max() > 0 and result.raw_maps["gradcam"].max() > 0
    assert not any(p.requires_grad for p in model.network.parameters())


def test_call_that_raises_inside_the_forward_pass_leaves_nothing_behind():
    model = timm_vit()
    hooks, flags = hook_counts(model.network), grad_flags(model.network)

    def fail(*_):
        raise RuntimeError("boom")

    # Fails mid-forward, after our hooks are registered on every block.
    sabotage = model.network.blocks[1].mlp.register_forward_hook(fail)
    with pytest.raises(RuntimeError, match="boom"):
        explain(model, random_image(4))
    sabotage.remove()
    assert hook_counts(model.network) == hooks
    assert grad_flags(model.network) == flags
    assert not model.lock._is_owned()  # the lock was released
    explain(model, random_image(4))  # and the model still works


def test_bad_requests_fail_with_one_line_and_leave_nothing_behind():
    model = timm_vit()
    hooks = hook_counts(model.network)
    for kwargs, message in [
        ({"target": "zebra"}, "not one of this model's classes"),
        ({"target": 99}, "out of range"),
        ({"methods": ["saliency"]}, "not an explanation method"),
        ({"methods": ["cls"], "cls_head": 9}, "Head 9"),
        ({"top_k": 0}, "top_k must be at least 1"),
    ]:
        with pytest.raises(VitdemoError, match=message) as err:
            explain(model, random_image(5), **kwargs)
        assert "\n" not in str(err.value)
    with pytest.raises(VitdemoError, match="float32 array"):
        explain(model, np.zeros((8, 8, 3), dtype=np.float32))
    assert hook_counts(model.network) == hooks


def test_unlocked_forward_in_another_thread_does_not_leak_into_a_running_explanation():
    model = timm_vit()
    first, second = random_image(6), random_image(7)
    expected = explain(model, first)
    inside, other_done = threading.Event(), threading.Event()

    def pause_explaining_thread(_module, _args):
        if threading.current_thread().name == "explaining":
            inside.set()
            assert other_done.wait(timeout=60)

    # Holds the explaining thread inside its hooked forward pass (after block 0 has been recorded)
    # while another thread runs a plain forward pass through every block, without the lock.
    pause = model.network.blocks[1].register_forward_pre_hook(pause_explaining_thread)
    results = {}
    worker = threading.Thread(target=lambda: results.update(r=explain(model, first)), name="explaining")
    worker.start()
    assert inside.wait(timeout=60)
    with torch.no_grad():
        model.network(input_tensor(model, second))
    other_done.set()
    worker.join(timeout=60)
    pause.remove()
    assert_same(results["r"], expected)
