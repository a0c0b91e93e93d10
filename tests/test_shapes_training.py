"""The demo-model training script: it learns, resumes from its checkpoint, and exports a loadable model."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from vitdemo.data.shapes import SHAPE_CLASSES
from vitdemo.models import load_model, predict
from vitdemo.train import shapes as recipe
from vitdemo.train.checkpoints import weights_digest


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    work = tmp_path_factory.mktemp("shapes-work")
    recipe.render_training_set(work, processes=1, easy=40, full=40)
    return work


def _config(arch: str, steps: int, **kw) -> recipe.TrainConfig:
    return recipe.TrainConfig(
        arch=arch,
        steps=steps,
        batch_size=8,
        warmup_steps=2,
        checkpoint_every=5,
        val_size=12,
        threads=1,
        device="cpu",
        **kw,
    )


def test_rendered_set_matches_the_generator(rendered):
    images = np.load(rendered / "images.npy", mmap_mode="r")
    labels, cover = np.load(rendered / "labels.npy"), np.load(rendered / "cover.npy")
    assert images.shape == (80, 224, 224, 3) and labels.shape == (80,)
    assert set(labels) <= set(range(len(SHAPE_CLASSES)))
    # every image has an object: some token cells are covered, most are background
    covered = (cover.astype(np.float32) > 0.5).reshape(80, -1).mean(1)
    assert (covered > 0).all() and (covered < 0.6).all()


@pytest.mark.parametrize("arch", ["vit", "resnet"])
def test_training_lowers_the_loss_and_exports_a_plain_model(rendered, tmp_path, arch):
    torch.manual_seed(0)
    cfg = _config(arch, steps=30, lr=2e-3, train_size=112, full_size_frac=0.2)
    cfg.checkpoint_every = 1  # log every step: the loss below is averaged over several batches
    out = recipe.train(cfg, rendered, out_root=tmp_path)
    log = [json.loads(line) for line in (rendered / f"{arch}.log.jsonl").read_text().splitlines()]
    # the dense (token-label) loss is the quick learner: which cells hold the object
    first, last = np.mean([r["token_loss"] for r in log[:6]]), np.mean([r["token_loss"] for r in log[-6:]])
    assert last < 0.8 * first, (first, last)
    model = load_model(str(out), device="cpu")  # through the same path as the bundled models
    assert model.labels == SHAPE_CLASSES and model.family == ("vit" if arch == "vit" else "cnn")
    assert not any(k.startswith("dense") for k in model.network.state_dict())  # aux head dropped
    card = json.loads((out / "vitdemo.json").read_text())
    assert card["status"] == "in-training" and "Token labelling" in card["training"]["recipe"]
    assert len(predict(model, [Image.new("RGB", (224, 224), "white")], top_k=3)[0]) == 3


def _fresh_work_dir(rendered, tmp_path):
    """The shared rendered images in a work directory of its own (no checkpoints to resume)."""
    work = tmp_path / "work"
    work.mkdir()
    for name in ("images.npy", "labels.npy", "cover.npy", "rendered.json"):
        (work / name).symlink_to(rendered / name)
    return work


def test_a_second_invocation_resumes_where_the_first_stopped(rendered, tmp_path, capsys):
    work = _fresh_work_dir(rendered, tmp_path)
    recipe.train(_config("resnet", steps=5), work, out_root=tmp_path)
    first = torch.load(work / "resnet.ckpt.pt", weights_only=True)
    assert first["step"] == 5
    recipe.train(_config("resnet", steps=10), work, out_root=tmp_path)
    assert "resumed resnet at step 5" in capsys.readouterr().out
    steps = [json.loads(line)["step"] for line in (work / "resnet.log.jsonl").read_text().splitlines()]
    assert steps == [5, 10]
    # the card tells the whole path: two invocations, 10 steps of 8 images
    card = json.loads((tmp_path / "demo-resnet" / "vitdemo.json").read_text())
    assert [h["steps"] for h in card["training"]["history"]] == [[0, 5], [5, 10]]
    assert card["training"]["images_seen"] == 80


def test_hybrid_stem_is_the_trained_resnets_stages_and_stays_frozen(rendered, tmp_path):
    """The hybrid ViT reads pixels through demo-resnet's conv1..layer3: copied exactly, never trained."""
    work = _fresh_work_dir(rendered, tmp_path)
    out = recipe.train(_config("hybrid", steps=4, lr=1e-2, stem_from="demo-resnet"), work, out_root=tmp_path)
    vit = load_model(str(out), device="cpu").network
    resnet = load_model("demo-resnet", device="cpu").network.state_dict()
    stem = vit.patch_embed.backbone.state_dict()
    assert {k.split(".")[0] for k in stem} == {"conv1", "bn1", "layer1", "layer2", "layer3"}
    for key, value in stem.items():  # weights and batch-norm statistics alike
        torch.testing.assert_close(value, resnet[key], msg=key)
    # ... while the transformer did learn: it moved away from its initialisation (same seed as train())
    torch.manual_seed(0)
    fresh = recipe.TokenLabelled("hybrid").net.state_dict()
    assert not torch.equal(vit.state_dict()["blocks.0.attn.qkv.weight"], fresh["blocks.0.attn.qkv.weight"])


def test_plain_vit_is_timms_linear_patch_vit_with_mimetic_attention():
    """Trockman & Kolter 2023: W_q W_kᵀ starts near +identity and W_v W_oᵀ near −identity in every head."""
    from timm.layers import PatchEmbed

    net = recipe.TokenLabelled("plainvit").net
    assert isinstance(net.patch_embed, PatchEmbed) and net.patch_embed.proj.kernel_size == (16, 16)
    attn = net.blocks[0].attn
    d, hd = attn.qkv.in_features, attn.head_dim
    w = attn.qkv.weight.detach()
    for h in range(attn.num_heads):
        qk = w[h * hd : (h + 1) * hd].T @ w[d + h * hd : d + (h + 1) * hd]  # (d, d)
        assert qk.diagonal().mean() > 5 * qk.abs().mean() / d**0.5, h  # self-similarity dominates
    vo = w[2 * d :].T @ attn.proj.weight.detach().T
    torch.testing.assert_close(vo.diagonal().mean(), torch.tensor(-0.4), atol=0.05, rtol=0)


def test_attention_distillation_pulls_the_students_cls_attention_to_the_teachers(rendered, tmp_path):
    """The plain ViT learns where demo-vit's class token looks: the attention loss falls."""
    work = _fresh_work_dir(rendered, tmp_path)
    cfg = _config("plainvit", steps=24, lr=2e-3, distill_teacher="demo-vit", distill_attention=1.0)
    cfg.checkpoint_every = 1
    out = recipe.train(cfg, work, out_root=tmp_path)
    log = [json.loads(line) for line in (work / "plainvit.log.jsonl").read_text().splitlines()]
    first, last = (
        np.mean([r["attention_loss"] for r in log[:6]]),
        np.mean([r["attention_loss"] for r in log[-6:]]),
    )
    assert last < 0.8 * first, (first, last)
    # the teacher's maps are cached: one CLS-attention share per patch of each of the 80 images
    digest = weights_digest(load_model("demo-vit", device="cpu").network)
    cached = np.load(work / f"teacher-attention-demo-vit-{digest}.maps.npy").astype(np.float32)
    assert cached.shape == (80, 14, 14) and ((cached.sum((1, 2)) > 0.5) & (cached.sum((1, 2)) < 1.01)).all()
    card = json.loads((out / "vitdemo.json").read_text())
    assert card["timm_name"] == "vit_tiny_patch16_224" and card["name"] == "demo-plainvit"


@pytest.mark.parametrize("arch", ["resnet", "hybrid", "vit"])
def test_committed_checkpoints_load_into_the_recipes_model_and_optimizer(arch):
    """`train --arch X` resumes the committed training state: weights, optimizer moments and step."""
    from pathlib import Path

    from vitdemo.train.checkpoints import load_training_state
    from vitdemo.train.shapes_recipe.loop import build_model_and_optimizer

    cfg = recipe.recipe_stages(arch)[-1]
    model, optimizer = build_model_and_optimizer(cfg, torch.device("cpu"))
    path = Path(__file__).resolve().parents[1] / "training" / "shapes" / f"{arch}.ckpt.pt"
    step = load_training_state(path, model, optimizer, torch.device("cpu"))
    assert step == (cfg.stop_at or cfg.steps)  # every recorded stage ran to its end
    moments = [optimizer.state[p]["exp_avg"] for p in model.parameters() if p.requires_grad]
    assert len(moments) == sum(p.requires_grad for p in model.parameters())
    assert all(m.abs().sum() > 0 for m in moments[:3])
