"""Captured attention equals an independent eager reference; capturing changes nothing the model computes."""

from __future__ import annotations

import copy

import pytest
import torch
from explain_models import hf_vit, input_tensor, random_image, timm_vit

from vitdemo.explain import explain

# name → timm kwargs: plain, distilled DeiT (2 prefix tokens), 4 registers, global-average-pooled
VARIANTS = {
    "plain": {},
    "distilled": {"name": "deit_tiny_distilled_patch16_224"},
    "registers": {"reg_tokens": 4},
    "gap": {"class_token": False, "global_pool": "avg"},
}


def eager_timm_forward(network: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A hand-written eager forward of a timm ViT: (logits, attentions (layers, heads, N, N))."""
    h = network.norm_pre(network.patch_drop(network._pos_embed(network.patch_embed(x))))
    attentions = []
    for blk in network.blocks:
        attn = blk.attn
        y = blk.norm1(h)
        batch, tokens, _ = y.shape
        qkv = attn.qkv(y).reshape(batch, tokens, 3, attn.num_heads, attn.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        q, k = attn.q_norm(q), attn.k_norm(k)
        weights = ((q * attn.scale) @ k.transpose(-2, -1)).softmax(dim=-1)
        attentions.append(weights[0])
        out = (weights @ v).transpose(1, 2).reshape(batch, tokens, -1)
        h = h + blk.ls1(attn.proj(attn.norm(out)))
        h = h + blk.ls2(blk.mlp(blk.norm2(h)))
    return network.forward_head(network.norm(h)), torch.stack(attentions)


@pytest.mark.parametrize("variant", VARIANTS)
def test_timm_attention_equals_hand_written_eager_forward(variant):
    model = timm_vit(img_size=(32, 40), **VARIANTS[variant])
    image = random_image(1)
    result = explain(model, image, methods=["rollout", "relevance", "gradcam"])
    x = input_tensor(model, image)
    with torch.no_grad():
        plain_logits = model.network(x)[0]
        eager_logits, eager_attentions = eager_timm_forward(model.network, x)
        eager_logits = eager_logits[0]
    tokens = model.geometry.num_tokens
    assert result.attentions.shape == (2, 4, tokens, tokens)
    torch.testing.assert_close(result.attentions, eager_attentions, rtol=1e-5, atol=1e-6)
    # Capturing changes nothing: the logits are those of the untouched fused forward pass.
    torch.testing.assert_close(torch.from_numpy(result.logits), plain_logits, rtol=0, atol=1e-6)
    torch.testing.assert_close(torch.from_numpy(result.logits), eager_logits, rtol=1e-5, atol=1e-5)


def test_hf_attention_equals_output_attentions_eager():
    model = hf_vit()
    image = random_image(2)
    result = explain(model, image, methods=["cls", "relevance", "gradcam"])
    x = input_tensor(model, image)
    with torch.no_grad():
        reference = model.network(pixel_values=x, output_attentions=True)
    expected = torch.stack([a[0] for a in reference.attentions])
    torch.testing.assert_close(result.attentions, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(torch.from_numpy(result.logits), reference.logits[0], rtol=0, atol=1e-6)


def chefer_relevance(attentions: list[torch.Tensor], readout: torch.Tensor) -> torch.Tensor:
    """R = I; R += mean_h((∇A ⊙ A)⁺) · R, from tensors whose .grad autograd filled in."""
    tokens = attentions[0].shape[-1]
    relevance = torch.eye(tokens)
    for a in attentions:
        relevance = relevance + (a.grad[0] * a[0]).clamp(min=0).mean(dim=0) @ relevance
    return readout @ relevance


@pytest.mark.parametrize("variant", VARIANTS)
def test_timm_relevance_equals_autograd_through_eager_attention(variant):
    model = timm_vit(img_size=(32, 40), **VARIANTS[variant])
    image = random_image(3)
    target = 2
    result = explain(model, image, target=target, methods=["relevance"])

    # Reference: an eager copy whose softmax tensors are in the graph, gradients by plain autograd.
    reference = copy.deepcopy(model.network)
    captured = []

    def keep(_module, _args, output):
        output.retain_grad()
        captured.append(output)

    for blk in reference.blocks:
        blk.attn.fused_attn = False
        blk.attn.attn_drop.register_forward_hook(keep)
    reference(input_tensor(model, image))[0, target].backward()

    geometry = model.geometry
    readout = torch.zeros(geometry.num_tokens)
    if variant == "gap":
        readout[geometry.num_prefix_tokens :] = 1 / geometry.num_patches
    elif variant == "distilled":
        readout[:2] = 0.5
    else:
        readout[0] = 1.0
    expected = chefer_relevance(captured, readout)[geometry.num_prefix_tokens :].reshape(geometry.grid_size)
    torch.testing.assert_close(torch.from_numpy(result.raw_maps["relevance"]), expected, rtol=1e-4, atol=1e-6)


def test_hf_relevance_equals_autograd_on_output_attentions():
    model = hf_vit()
    image = random_image(4)
    result = explain(model, image, target="dog", methods=["relevance"])
    reference = copy.deepcopy(model.network)
    outputs = reference(pixel_values=input_tensor(model, image), output_attentions=True)
    for a in outputs.attentions:
        a.retain_grad()
    outputs.logits[0, 3].backward()
    readout = torch.zeros(model.geometry.num_tokens)
    readout[0] = 1.0
    expected = chefer_relevance(list(outputs.attentions), readout)[1:].reshape(4, 4)
    torch.testing.assert_close(torch.from_numpy(result.raw_maps["relevance"]), expected, rtol=1e-4, atol=1e-6)
    assert result.target.label == "dog"
