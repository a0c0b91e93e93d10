"""predict(): the right classes, best first, for every image of a batch, in input order."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from vitdemo.errors import VitdemoError
from vitdemo.models import LoadedModel, Preprocessing, load_model, predict
from vitdemo.models import prediction as predict_module
from vitdemo.models.prediction import ClassScore

COLOURS = {"red": (230, 20, 20), "green": (20, 230, 20), "blue": (20, 20, 230)}


class MeanColour(torch.nn.Module):
    """A 'classifier' whose logits are the image's mean R, G, B: its right answers are known."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(10.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, H, W) → (B, 3)
        return self.scale * x.mean(dim=(2, 3))


@pytest.fixture
def colour_model() -> LoadedModel:
    return LoadedModel(
        spec="test:mean-colour",
        network=MeanColour().eval(),
        preprocessing=Preprocessing(input_size=(32, 32), mean=(0.0,) * 3, std=(1.0,) * 3, crop_mode="squash"),
        labels=list(COLOURS),
        family="cnn",
        backend="timm",
        geometry=None,
        source="test",
    )


def test_each_image_gets_its_own_top_class_in_input_order(colour_model, monkeypatch):
    monkeypatch.setattr(predict_module, "BATCH_SIZE", 4)  # several batches, order must survive
    names = ["red", "blue", "green", "green", "red", "blue", "red", "blue", "green", "red"]
    images = [Image.new("RGB", (50, 40), COLOURS[n]) for n in names]
    results = predict(colour_model, images, top_k=2)
    assert [r[0].label for r in results] == names
    for result in results:
        assert len(result) == 2 and all(isinstance(s, ClassScore) for s in result)
        assert result[0].prob > result[1].prob > 0
        assert result[0].index == colour_model.labels.index(result[0].label)
        assert result[0].prob > 0.9


def test_top_k_is_capped_and_probabilities_sum_to_one(colour_model):
    (scores,) = predict(colour_model, Image.new("RGB", (20, 20), COLOURS["green"]), top_k=10)
    assert scores[0].label == "green" and len(scores) == 3
    assert sum(s.prob for s in scores) == pytest.approx(1.0, abs=1e-5)


def test_top_k_below_one_is_refused(colour_model):
    with pytest.raises(VitdemoError, match="top_k must be at least 1"):
        predict(colour_model, [Image.new("RGB", (20, 20))], top_k=0)


def test_predict_with_a_loaded_timm_model(tiny_vit_dir):
    model = load_model(str(tiny_vit_dir), device="cpu")
    results = predict(model, [Image.new("RGB", (300, 200), "white"), Image.new("RGB", (64, 64), "black")])
    assert len(results) == 2
    for scores in results:
        assert {s.label for s in scores} == {"circle", "square", "triangle"}
        assert sum(s.prob for s in scores) == pytest.approx(1.0, abs=1e-5)
