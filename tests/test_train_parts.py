"""The small pieces of fine-tuning: metrics, schedules, modes, soup averaging, augmentation, charts."""

from __future__ import annotations

import numpy as np
import pytest
import timm
import torch

from vitdemo.train.augment import augment_batch
from vitdemo.train.config import ConfigError, FineTuneConfig, parse_mode
from vitdemo.train.metrics import classification_report
from vitdemo.train.network import count_blocks, freeze_for_mode
from vitdemo.train.optim import lr_at, make_optimizer, warmup_cosine
from vitdemo.train.soup import BestK, average_states
from vitdemo.ui.training_charts import (
    LIVE_FIGURES,
    confusion_matrix_chart,
    epoch_metrics_chart,
    format_eta,
    live_run_figures,
    metrics_rows,
    min_max_indices,
    step_loss_chart,
)


def test_classification_report_matches_hand_computed_values():
    labels = [0, 0, 1, 1, 2, 2]
    predicted = [0, 1, 1, 1, 2, 0]
    probabilities = np.full((6, 3), 0.1)
    probabilities[np.arange(6), predicted] = 0.8
    report = classification_report(labels, probabilities, ["a", "b", "c"], loss=0.5)
    assert report["accuracy"] == pytest.approx(4 / 6)
    assert report["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert report["per_class_accuracy"] == {"a": 0.5, "b": 1.0, "c": 0.5}
    f1 = [2 * 0.5 * 0.5 / 1.0, 2 * (2 / 3) * 1.0 / (2 / 3 + 1.0), 2 * 1.0 * 0.5 / 1.5]  # per class
    assert report["macro_f1"] == pytest.approx(np.mean(f1))
    assert 0.5 < report["roc_auc"] <= 1.0
    assert report["loss"] == 0.5 and report["n"] == 6


def test_roc_auc_is_none_when_a_class_has_no_validation_images():
    report = classification_report([0, 0, 1], np.eye(3)[[0, 0, 1]], ["a", "b", "c"])
    assert report["roc_auc"] is None
    assert report["per_class_accuracy"]["c"] is None


def test_cosine_schedule_warms_up_then_decays_to_zero():
    config = FineTuneConfig(lr=1e-3, schedule="cosine", warmup_fraction=0.1, epochs=10)
    lrs = [lr_at(step, 100, 10, config) for step in range(100)]
    assert lrs[:10] == sorted(lrs[:10]) and lrs[9] == pytest.approx(1e-3)
    assert lrs[10:] == sorted(lrs[10:], reverse=True)
    assert lrs[-1] < 1e-6


def test_the_demo_recipes_schedule_is_the_same_cosine_ending_at_its_floor():
    """The recipe's stages and fine-tuning share one schedule; the recipe's keeps 2 % of the peak."""
    config = FineTuneConfig(lr=1e-3, schedule="cosine", warmup_fraction=0.1, epochs=10)
    assert [warmup_cosine(s, 100, 10, 1e-3) for s in range(100)] == [
        lr_at(s, 100, 10, config) for s in range(100)
    ]
    floored = [warmup_cosine(s, 100, 10, 1e-3, floor=0.02) for s in range(120)]
    assert floored[9] == pytest.approx(1e-3) and floored[-1] == pytest.approx(2e-5)
    assert min(floored) == pytest.approx(2e-5)


def test_optimizer_groups_exempt_biases_and_norms_unless_asked_to_decay_everything():
    net = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4))
    cpu = torch.device("cpu")
    split = make_optimizer(list(net.parameters()), lr=1e-3, weight_decay=0.05, device=cpu)
    assert [(len(g["params"]), g["weight_decay"]) for g in split.param_groups] == [(1, 0.05), (3, 0.0)]
    one = make_optimizer(list(net.parameters()), lr=1e-3, weight_decay=0.05, device=cpu, decay_1d=True)
    assert [(len(g["params"]), g["weight_decay"]) for g in one.param_groups] == [(4, 0.05)]


def test_step_schedule_divides_every_third_of_the_run_by_default():
    config = FineTuneConfig(lr=0.1, schedule="step", epochs=9)
    per_epoch = [lr_at(epoch * 5, 45, 5, config) for epoch in range(9)]
    assert per_epoch == pytest.approx([0.1] * 3 + [0.01] * 3 + [0.001] * 3)


@pytest.mark.parametrize(
    ("text", "parsed"), [("head", ("head", 0)), ("last-3", ("last", 3)), ("Full", ("full", 0))]
)
def test_modes_parse(text, parsed):
    assert parse_mode(text) == parsed


@pytest.mark.parametrize("text", ["last-0", "tail", "last-"])
def test_bad_modes_are_one_line_errors(text):
    with pytest.raises(ConfigError, match="Unknown mode"):
        parse_mode(text)


def test_modes_freeze_the_right_parts_of_a_resnet():
    network = timm.create_model("resnet18", pretrained=False, num_classes=4, layers=[1, 1, 1, 1])
    assert count_blocks(network) == 4
    head = {id(p) for p in freeze_for_mode(network, "head")}
    assert head == {id(p) for p in network.fc.parameters()}
    last = {id(p) for p in freeze_for_mode(network, "last", 1)}
    assert last == {id(p) for p in [*network.layer4.parameters(), *network.fc.parameters()]}
    assert len(freeze_for_mode(network, "full")) == len(list(network.parameters()))


def test_best_k_keeps_the_k_best_epochs_and_builds_state_only_for_them():
    best = BestK(2)
    built = []
    for epoch, accuracy in enumerate([0.5, 0.9, 0.7, 0.6, 0.95], start=1):
        best.offer(accuracy, 1.0, epoch, lambda e=epoch: built.append(e) or {"w": torch.tensor([float(e)])})
    assert best.epochs == [5, 2]
    assert built == [1, 2, 3, 5]  # epoch 4 never made the top 2, so its weights were never copied


def test_average_states_means_floats_and_keeps_counters_of_the_first():
    states = [
        {"w": torch.tensor([1.0, 3.0]), "n": torch.tensor(7)},
        {"w": torch.tensor([3.0, 5.0]), "n": torch.tensor(9)},
    ]
    averaged = average_states(states)
    assert torch.equal(averaged["w"], torch.tensor([2.0, 4.0])) and averaged["n"].item() == 7


def test_augmentation_is_reproducible_for_a_seed_and_varies_between_seeds():
    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    a = augment_batch(images, torch.Generator().manual_seed(1))
    b = augment_batch(images, torch.Generator().manual_seed(1))
    c = augment_batch(images, torch.Generator().manual_seed(2))
    assert a.shape == (4, 3, 32, 32) and a.min() >= 0.0 and a.max() <= 1.0
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_charts_draw_what_the_run_recorded():
    metrics = [
        {"kind": "step", "epoch": 1 + i // 3, "step": i + 1, "loss": 2.0 - 0.1 * i, "lr": 1e-3}
        for i in range(6)
    ]
    metrics += [
        {"kind": "epoch", "epoch": 1, "train_loss": 1.9, "val_loss": 1.8, "val_accuracy": 0.4, "best": True},
        {"kind": "epoch", "epoch": 2, "train_loss": 1.6, "val_loss": 1.5, "val_accuracy": 0.7, "best": True},
    ]
    loss = step_loss_chart(metrics)
    assert list(loss.data[0].y) == [m["loss"] for m in metrics[:6]]
    assert loss.data[1].y[0] == pytest.approx(2.0)  # the smoothed curve starts where the loss starts
    epochs = epoch_metrics_chart(metrics)
    assert [t.name for t in epochs.data] == ["train loss", "val loss", "val accuracy", "best checkpoint"]
    assert list(epochs.data[3].x) == [2]
    assert confusion_matrix_chart([[2, 0], [1, 3]], ["a", "b"]).data[0].z == ([2, 0], [1, 3])


def _long_run(steps: int, per_epoch: int = 20) -> list[dict]:
    rng = np.random.default_rng(0)
    metrics = [{"kind": "step", "epoch": 1 + i // per_epoch, "step": i + 1, "loss": 2.0 / (1 + i / 100)
                + 0.05 * rng.random(), "lr": 1e-3} for i in range(steps)]  # fmt: skip
    for epoch in range(1, steps // per_epoch + 1):
        metrics.append({"kind": "epoch", "epoch": epoch, "train_loss": 1.0, "val_loss": 1.0,
                        "val_accuracy": 0.5, "best": epoch == 1})  # fmt: skip
    return metrics


def test_a_long_run_draws_a_bounded_chart_that_keeps_spikes_and_the_last_step():
    metrics = _long_run(10_000)
    metrics[4321]["loss"] = 9.0  # one diverging step must stay visible after thinning
    chart = step_loss_chart(metrics)
    raw, smoothed, boundaries = chart.data
    assert len(raw.x) <= 500 and len(raw.x) == len(smoothed.x)
    assert max(raw.y) == 9.0 and min(raw.y) == min(m["loss"] for m in metrics if m["kind"] == "step")
    assert raw.x[0] == 1 and raw.x[-1] == 10_000
    assert len(chart.layout.shapes) == 0  # epoch ends are one trace, not 500 shapes
    assert boundaries.name == "epoch ends" and len(boundaries.x) <= 3 * 50


def test_min_max_indices_keep_short_curves_whole():
    assert list(min_max_indices(np.arange(10.0))) == list(range(10))


def test_live_figures_are_built_once_per_new_row_for_every_caller():
    metrics = _long_run(40)
    before = LIVE_FIGURES.builds
    first = live_run_figures("runs/a", metrics)
    assert live_run_figures("runs/a", list(metrics)) is first  # another tab, same rows: shared
    assert LIVE_FIGURES.builds == before + 1
    metrics.append({"kind": "step", "epoch": 3, "step": 41, "loss": 0.1, "lr": 1e-3})
    newer = live_run_figures("runs/a", metrics)
    assert newer is not first and newer[0].data[0].x[-1] == 41


def test_eta_and_metrics_rows_read_like_a_person_wrote_them():
    assert format_eta(5) == "5 s" and format_eta(65) == "1 min 05 s" and format_eta(None) == ""
    report = {"accuracy": 0.9, "macro_f1": 0.88, "roc_auc": 0.97, "loss": 0.3}
    rows = metrics_rows({"before": report, "before_kind": "fresh head", "after": report, "best_epoch": 3})
    assert [r["model"] for r in rows] == ["before (fresh head)", "after (best epoch 3)"]
