"""One forward pass of a ViT that also yields every layer's softmax attention and Grad-CAM's input.

timm ViTs run fused attention (`F.scaled_dot_product_attention`), which never materialises the
softmax. Instead of switching the shared model to its slower eager path (`set_fused_attn`, or the
`fused_attn` attribute — both change what every other thread computes), call-owned hooks record
each block's qkv projection and its attention output, and the softmax is recomputed from q and k
exactly as timm's eager path does: softmax(q·scale @ kᵀ). The model computes what it always computes.

Gradient relevance needs ∂score/∂A for every layer, but A is not in the fused graph. Since the
attention output is O = A·V, ∂score/∂A = (∂score/∂O)·Vᵀ: one backward to the attention outputs
gives ∂score/∂A of every layer at once, for the cost of one small matmul per layer.

Hugging Face ViTs are loaded with eager attention, so `output_attentions=True` returns softmax
tensors that are themselves in the graph; autograd differentiates with respect to them directly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from vitdemo.errors import VitdemoError
from vitdemo.explain.call_hooks import CallHooks
from vitdemo.models.loaded import LoadedModel


@dataclass
class VitPass:
    """What one ViT forward pass leaves behind for the maps.

    Attributes:
        logits: (1, classes); in the autograd graph when the pass was run with `graph=True`.
        attentions: (layers, heads, tokens, tokens) float32 softmax attention, detached.
        cam_activation: (1, tokens, C) output of the Grad-CAM block's first norm (its target
            layer; the last block by default), in the graph; None when not requested.
        readout: how the classifier reads the final tokens ("class", "class+dist", "patches"), or
            None when it pools in a way rollout cannot follow (attention pooling, max pooling).
    """

    logits: torch.Tensor
    attentions: torch.Tensor
    cam_activation: torch.Tensor | None
    readout: str | None
    pooling: str
    # Per layer, the graph tensor autograd differentiates; and how their gradients become ∂score/∂A.
    grad_sources: list[torch.Tensor] = field(default_factory=list, repr=False)
    to_attention_grads: Callable[[list[torch.Tensor]], torch.Tensor] | None = field(default=None, repr=False)

    def gradients(
        self, score: torch.Tensor, *, attention: bool, cam: bool
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """One backward pass from `score`, only as deep as the requested tensors.

        Args:
            score: a scalar from `logits` (the target class's logit).
            attention: return ∂score/∂A for every layer, (layers, heads, tokens, tokens).
            cam: return ∂score/∂cam_activation, (1, tokens, C).
        """
        inputs = (list(self.grad_sources) if attention else []) + ([self.cam_activation] if cam else [])
        if not inputs:
            return None, None
        grads = torch.autograd.grad(score, inputs, allow_unused=True)
        grads = [torch.zeros_like(t) if g is None else g for t, g in zip(inputs, grads, strict=True)]
        attention_grads = None
        if attention:
            assert self.to_attention_grads is not None
            with torch.no_grad():
                attention_grads = self.to_attention_grads(grads[: len(self.grad_sources)])
        return attention_grads, (grads[-1].detach() if cam else None)


def run_vit(
    model: LoadedModel,
    x: torch.Tensor,
    *,
    graph: bool,
    attention_grads: bool,
    cam: bool,
    cam_block: int = -1,
) -> VitPass:
    """Run the shared ViT once on `x` (1, 3, H, W), capturing attention (and Grad-CAM's input).

    Args:
        model: a loaded ViT (timm VisionTransformer family or HF ViTForImageClassification).
        x: the normalised input batch of one image.
        graph: record the autograd graph (needed for any gradient-based map).
        attention_grads: prepare ∂score/∂A for every layer (gradient relevance).
        cam: keep block `cam_block`'s first-norm output for Grad-CAM.
        cam_block: index of Grad-CAM's block in `transformer_blocks(model)` (negative counts from the end).
    """
    if x.size(0) != 1:
        raise ValueError("run_vit explains one image at a time")
    if graph:
        # Our own leaf: guarantees a graph even when the shared model's weights are frozen,
        # without touching any parameter's requires_grad.
        x = x.detach().requires_grad_(True)
    run = _CAPTURE_RUNNERS[model.backend]
    return run(model, x, graph=graph, attention_grads=attention_grads, cam=cam, cam_block=cam_block)


def transformer_blocks(model: LoadedModel) -> list[torch.nn.Module]:
    """The transformer blocks of a loaded ViT, input side first (timm `blocks`, HF encoder layers).

    Raises:
        VitdemoError: the network is not a ViT whose attention we can capture.
    """
    return model.adapter.transformer_blocks(model.network)


def _timm_readout(network: torch.nn.Module) -> tuple[str | None, str]:
    """(readout, pooling name) of a timm VisionTransformer."""
    if getattr(network, "dist_token", None) is not None:
        return "class+dist", "class and distillation tokens"
    if getattr(network, "attn_pool", None) is not None:
        return None, "attention pooling"
    pool = getattr(network, "global_pool", "token")
    if pool == "token":
        return "class", "class token"
    if pool == "avg" and not getattr(network, "pool_include_prefix", False):
        return "patches", "global average pooling"
    return None, f"'{pool}' pooling"


def _run_timm(
    model: LoadedModel, x: torch.Tensor, *, graph: bool, attention_grads: bool, cam: bool, cam_block: int
) -> VitPass:
    network = model.network
    blocks = transformer_blocks(model)
    qkv_outputs: list[torch.Tensor | None] = [None] * len(blocks)
    attention_outputs: list[torch.Tensor | None] = [None] * len(blocks)
    cam_activation: list[torch.Tensor] = []

    def keep(store: list, index: int, detach: bool) -> Callable[[torch.Tensor], None]:
        def record(t: torch.Tensor) -> None:
            store[index] = t.detach() if detach else t

        return record

    with model.lock, CallHooks() as hooks:
        for i, blk in enumerate(blocks):
            hooks.record_output(blk.attn.qkv, keep(qkv_outputs, i, detach=True))
            if attention_grads:
                # The input of attn.norm is the attention output O (B, N, heads*head_dim), before proj.
                hooks.record_input(blk.attn.norm, keep(attention_outputs, i, detach=False))
        if cam:
            hooks.record_output(blocks[cam_block].norm1, cam_activation.append)
        with torch.set_grad_enabled(graph):
            logits = network(x)

    with torch.no_grad():
        attentions, values = _timm_softmax(blocks, qkv_outputs)
    _check_tokens(model, attentions)
    readout, pooling = _timm_readout(network)

    def to_attention_grads(grad_outputs: list[torch.Tensor]) -> torch.Tensor:
        layers, heads, tokens, head_dim = values.shape
        grads = torch.cat(grad_outputs).reshape(layers, tokens, heads, head_dim)  # (L, N, H, hd)
        return grads.transpose(1, 2) @ values.transpose(-2, -1)  # ∂score/∂A = ∂score/∂O · Vᵀ: (L, H, N, N)

    return VitPass(
        logits=logits,
        attentions=attentions,
        cam_activation=cam_activation[-1] if cam else None,
        readout=readout,
        pooling=pooling,
        grad_sources=[t for t in attention_outputs if t is not None] if attention_grads else [],
        to_attention_grads=to_attention_grads,
    )


def _timm_softmax(
    blocks: list[torch.nn.Module], qkv_outputs: list[torch.Tensor | None]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Recompute every block's softmax attention from its recorded qkv, as timm's eager path does.

    All layers at once (a handful of large ops rather than a dozen small ones per layer).
    Returns attention (L, H, N, N) float32 and values (L, H, N, hd).
    """
    if any(qkv is None for qkv in qkv_outputs):
        raise VitdemoError("The model skipped a transformer block; its attention cannot be captured.")
    attns = [blk.attn for blk in blocks]
    heads, head_dim = attns[0].num_heads, attns[0].head_dim
    if any(a.num_heads != heads or a.head_dim != head_dim for a in attns):
        raise VitdemoError("Attention capture needs the same number of heads in every block.")
    qkv = torch.cat(qkv_outputs)  # (L, N, 3·H·hd): batch of one image per layer
    layers, tokens, _ = qkv.shape
    q, k, v = qkv.reshape(layers, tokens, 3, heads, head_dim).permute(2, 0, 3, 1, 4)  # (L, H, N, hd) each
    if not all(
        isinstance(a.q_norm, torch.nn.Identity) and isinstance(a.k_norm, torch.nn.Identity) for a in attns
    ):
        q = torch.stack([a.q_norm(q[i]) for i, a in enumerate(attns)])
        k = torch.stack([a.k_norm(k[i]) for i, a in enumerate(attns)])
    scale = torch.tensor([a.scale for a in attns], dtype=q.dtype, device=q.device).view(layers, 1, 1, 1)
    weights = ((q * scale) @ k.transpose(-2, -1)).softmax(dim=-1)  # (L, H, N, N)
    return weights.float(), v


def _run_hf(
    model: LoadedModel, x: torch.Tensor, *, graph: bool, attention_grads: bool, cam: bool, cam_block: int
) -> VitPass:
    # attention_grads needs nothing extra: with eager attention the softmax itself is in the graph.
    network = model.network
    layers = transformer_blocks(model)
    cam_activation: list[torch.Tensor] = []
    with model.lock, CallHooks() as hooks:
        if cam:
            hooks.record_output(layers[cam_block].layernorm_before, cam_activation.append)
        with torch.set_grad_enabled(graph):
            # output_attentions is per call (transformers records it in a context variable).
            outputs = network(pixel_values=x, output_attentions=True)
    captured = outputs.attentions
    if not captured or len(captured) != len(layers):
        raise VitdemoError(
            "This Hugging Face model did not return its attention weights; load it with "
            "attn_implementation='eager' to explain it."
        )
    attentions = torch.stack([a[0].detach().float() for a in captured])
    _check_tokens(model, attentions)
    return VitPass(
        logits=outputs.logits,
        attentions=attentions,
        cam_activation=cam_activation[-1] if cam else None,
        readout="class",
        pooling="class token",
        grad_sources=list(captured),
        to_attention_grads=lambda grads: torch.cat(grads),  # (L, H, N, N): the softmax itself is in the graph
    )


def _check_tokens(model: LoadedModel, attentions: torch.Tensor) -> None:
    geometry = model.geometry
    if geometry is None or attentions.shape[-1] != geometry.num_tokens:
        raise VitdemoError(
            f"The model produced {attentions.shape[-1]} tokens but its geometry says "
            f"{None if geometry is None else geometry.num_tokens}; its input size or grid is misconfigured."
        )


# How each backend's ViTs are run with attention captured (timm: recomputed from q and k; HF: eager).
_CAPTURE_RUNNERS: dict[str, Callable[..., VitPass]] = {"timm": _run_timm, "hf": _run_hf}
