"""The per-model request queue: many threads, one batched forward, each caller gets its own answer."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
from explain_models import input_tensor, random_image, small_resnet, timm_vit
from PIL import Image

from vitdemo.models import LoadedModel, Preprocessing, predict
from vitdemo.models.batching import BatchedForward, batched_logits, forward_queue

THREADS = 16
WINDOW_S = 0.05  # generous, so threads released by one barrier surely share batches on a loaded CI box

MODELS = {"timm-vit": lambda: timm_vit(), "resnet": lambda: small_resnet(size=64)}


def one_by_one(model: LoadedModel, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
    with torch.inference_mode():
        return [model.logits(x[None]).float() for x in inputs]


def count_forwards(model: LoadedModel) -> list[int]:
    sizes: list[int] = []
    model.network.register_forward_pre_hook(lambda _m, args: sizes.append(args[0].size(0)))
    return sizes


def all_at_once(queue: BatchedForward, model: LoadedModel, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
    """Each input from its own thread, all released together; results in input order."""
    barrier = threading.Barrier(len(inputs))

    def ask(x: torch.Tensor) -> torch.Tensor:
        barrier.wait()
        return queue.logits(model, x[None])

    with ThreadPoolExecutor(max_workers=len(inputs)) as pool:
        return list(pool.map(ask, inputs))


@pytest.mark.parametrize("kind", MODELS)
def test_sixteen_threads_share_batched_forwards_and_each_gets_its_own_logits(kind):
    model = MODELS[kind]()
    inputs = [input_tensor(model, random_image(seed))[0] for seed in range(THREADS)]
    expected = one_by_one(model, inputs)
    sizes = count_forwards(model)

    got = all_at_once(BatchedForward(window_s=WINDOW_S), model, inputs)

    assert len(sizes) < THREADS and max(sizes) > 1, f"no batching happened: forward sizes {sizes}"
    assert sum(sizes) == THREADS  # every image ran exactly once
    for mine, alone in zip(got, expected, strict=True):
        assert mine.shape == (1, model.num_classes)
        torch.testing.assert_close(mine, alone, rtol=1e-4, atol=1e-5)
    # The images really differ, so equal-to-its-own also means no one got a neighbour's row.
    top = {tuple(row.flatten().tolist()) for row in expected}
    assert len(top) == THREADS


def test_requests_of_several_images_come_back_whole_and_in_order():
    model = small_resnet(size=64)
    inputs = [input_tensor(model, random_image(seed))[0] for seed in range(9)]
    expected = torch.cat(one_by_one(model, inputs))
    queue = BatchedForward(window_s=WINDOW_S, max_batch=4)
    chunks = [torch.stack(inputs[0:3]), torch.stack(inputs[3:4]), torch.stack(inputs[4:9])]
    barrier = threading.Barrier(len(chunks))

    def ask(x: torch.Tensor) -> torch.Tensor:
        barrier.wait()
        return queue.logits(model, x)

    with ThreadPoolExecutor(max_workers=len(chunks)) as pool:
        got = torch.cat(list(pool.map(ask, chunks)))
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def test_inputs_of_another_size_are_not_mixed_into_a_batch():
    model = small_resnet(size=64)  # a CNN takes any size: only the queue keeps them apart
    small = [torch.randn(3, 64, 64, generator=torch.Generator().manual_seed(i)) for i in range(4)]
    large = [torch.randn(3, 96, 96, generator=torch.Generator().manual_seed(i)) for i in range(4)]
    inputs = small + large
    expected = one_by_one(model, inputs)
    got = all_at_once(BatchedForward(window_s=WINDOW_S), model, inputs)
    for mine, alone in zip(got, expected, strict=True):
        torch.testing.assert_close(mine, alone, rtol=1e-4, atol=1e-5)


class RefusesBrightImages(torch.nn.Module):
    """Logits = mean colour; raises on an image brighter than 100 (a stand-in for a bad input)."""

    def __init__(self):
        super().__init__()
        self.unused = torch.nn.Parameter(torch.zeros(1))  # a model has parameters (its device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (x.amax(dim=(1, 2, 3)) > 100).any():
            raise ValueError("too bright")
        return x.mean(dim=(2, 3))


def test_an_error_reaches_only_the_caller_whose_image_caused_it():
    model = LoadedModel(
        spec="test:refuses-bright",
        network=RefusesBrightImages(),
        preprocessing=Preprocessing((8, 8), (0.0,) * 3, (1.0,) * 3, crop_mode="squash"),
        labels=["r", "g", "b"],
        family="cnn",
        backend="timm",
        geometry=None,
        source="test",
    )
    inputs = [torch.full((3, 8, 8), float(i)) for i in range(6)] + [torch.full((3, 8, 8), 500.0)]
    queue = BatchedForward(window_s=WINDOW_S)
    barrier = threading.Barrier(len(inputs))

    def ask(x: torch.Tensor) -> torch.Tensor | str:
        barrier.wait()
        try:
            return queue.logits(model, x[None])
        except ValueError as err:
            return str(err)

    with ThreadPoolExecutor(max_workers=len(inputs)) as pool:
        got = list(pool.map(ask, inputs))
    assert got[-1] == "too bright"
    for i, logits in enumerate(got[:-1]):
        torch.testing.assert_close(logits, torch.full((1, 3), float(i)))


def test_predict_from_many_threads_matches_predict_alone_and_reports_queue_load():
    model = small_resnet(size=64)

    images = [Image.fromarray(random_image(seed)) for seed in range(THREADS)]
    alone = [predict(model, [image])[0] for image in images]
    barrier = threading.Barrier(THREADS)

    def ask(image):
        barrier.wait()
        return predict(model, [image])[0]

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        together = list(pool.map(ask, images))
    for mine, own in zip(together, alone, strict=True):
        assert [s.index for s in mine] == [s.index for s in own]
        assert [s.prob for s in mine] == pytest.approx([s.prob for s in own], abs=1e-5)
    queue = forward_queue(model)
    assert queue is forward_queue(model)  # one queue per model object
    load = queue.load()
    assert load.images_waiting == 0 and load.seconds_per_image > 0
    torch.testing.assert_close(
        batched_logits(model, input_tensor(model, random_image(0))),
        one_by_one(model, [input_tensor(model, random_image(0))[0]])[0],
        rtol=1e-4,
        atol=1e-5,
    )
