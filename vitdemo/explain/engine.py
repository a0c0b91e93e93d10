"""`explain`: one forward pass per image → top-k, every attention and every requested map.

The pass records what each map needs (attention, the chosen Grad-CAM layer's activations); one
backward pass from the target logit, only as deep as the deepest requested map, gives all the
gradients.
The shared model is touched only through call-owned hooks under `model.lock` (see `call_hooks`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image

from vitdemo.data.images import load_image
from vitdemo.errors import BadImageError, VitdemoError
from vitdemo.explain.attention_capture import run_vit
from vitdemo.explain.cam_layers import CamLayer, resolve_cam_layer
from vitdemo.explain.cnn_capture import run_cnn
from vitdemo.explain.head_fusion import HeadChoice
from vitdemo.explain.map_inputs import MapInputs, MapUnavailable
from vitdemo.explain.methods import METHODS, MapMethod
from vitdemo.explain.result import ClassScore, ExplainResult
from vitdemo.explain.scaling import scale_to_view
from vitdemo.explain.token_grid import vit_reshape_transform
from vitdemo.models.loaded import LoadedModel

NO_ATTENTION = "A {arch} has no attention: attention maps exist only for Vision Transformers."


@dataclass(frozen=True)
class MapOptions:
    """Knobs of the attention maps (the app exposes them as sliders)."""

    cls_layer: int = -1  # layer of the "cls" map (negative counts from the end)
    cls_head: HeadChoice = "mean"  # "mean" | "max" | "min" | head index, for the "cls" map
    head_fusion: HeadChoice = "mean"  # how rollout fuses heads
    discard_ratio: float = 0.0  # rollout: fraction of weakest attentions dropped per layer
    score_cam_batch_size: int = 32  # masked images per Score-CAM forward pass


@dataclass
class _Computed:
    """Per-family output before it becomes an `ExplainResult`."""

    logits: torch.Tensor  # (classes,)
    target_index: int
    raw_maps: dict[str, np.ndarray] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    attentions: torch.Tensor | None = None


class _Stopwatch:
    def __init__(self) -> None:
        self.start = self.last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.laps[stage] = self.laps.get(stage, 0.0) + now - self.last
        self.last = now

    def total(self) -> dict[str, float]:
        return {**self.laps, "total": time.perf_counter() - self.start}


def explain(
    model: LoadedModel,
    image: Image.Image | np.ndarray,
    target: int | str | None = None,
    methods: Iterable[str] | None = None,
    top_k: int = 3,
    *,
    cls_layer: int = -1,
    cls_head: HeadChoice = "mean",
    head_fusion: HeadChoice = "mean",
    discard_ratio: float = 0.0,
    score_cam_batch_size: int = 32,
    cam_layer: str | None = None,
) -> ExplainResult:
    """Explain one image: top-k, the explained class, attentions (ViTs) and the requested maps.

    Args:
        model: a loaded ViT or CNN; shared models are safe to use from many threads.
        image: a PIL image or a uint8 array (H, W), (H, W, 3) or (H, W, 4).
        target: the class to explain, as index or label; default the top-1 class.
        methods: map names (see `vitdemo.explain.methods`); default `METHODS.defaults(family)`.
            Names that do not apply to this model land in `result.unavailable` with a reason.
        top_k: how many classes to list.
        cls_layer: layer of the "cls" map (negative counts from the end).
        cls_head: "mean", "max", "min" over heads, or one head's index, for the "cls" map.
        head_fusion: how rollout fuses heads ("mean", "max", "min" or a head index).
        discard_ratio: rollout drops this fraction of the weakest attentions in each layer.
        score_cam_batch_size: masked images per Score-CAM forward pass.
        cam_layer: the Grad-CAM family's target layer, a name from `cam_layers(model)`: a ResNet
            stage ("layer1" … "layer4") or a ViT block ("block:0" …; "block:-1" is the last).
            Default: the last stage or block.

    Returns:
        An `ExplainResult`; every map float32 in [0, 1] at the view's resolution.

    Raises:
        VitdemoError: unknown method, class, head or CAM layer; an image that is not an image.
    """
    clock = _Stopwatch()
    if top_k < 1:
        raise VitdemoError(f"top_k must be at least 1 (got {top_k}).")
    options = MapOptions(cls_layer, cls_head, head_fusion, discard_ratio, score_cam_batch_size)
    wanted = tuple(METHODS[name] for name in METHODS.resolve(model.family, methods))
    target_index = None if target is None else model.class_index(target)
    layer = resolve_cam_layer(model, cam_layer)
    view = np.array(model.preprocessing.view(_as_rgb(image)))  # own, writable copy for the result
    x = model.preprocessing.normalise(view)[None].to(model.device)  # (1, 3, H, W)
    clock.lap("preprocess")
    if model.family == "vit":
        computed = _explain_vit(model, x, wanted, target_index, options, layer, clock)
    else:
        computed = _explain_cnn(model, x, wanted, target_index, options, layer, clock)
    size = view.shape[:2]
    maps = {name: scale_to_view(raw, size) for name, raw in computed.raw_maps.items()}
    clock.lap("maps")
    top, explained = _class_scores(model, computed.logits, computed.target_index, top_k)
    return ExplainResult(
        top_k=top,
        target=explained,
        view=view,
        attentions=None if computed.attentions is None else computed.attentions.cpu(),
        maps=maps,
        raw_maps=computed.raw_maps,
        unavailable=computed.unavailable,
        timings=clock.total(),
        logits=computed.logits.float().cpu().numpy(),
        cam_layer=layer.name if any(m.family == "cam" for m in wanted) else None,
    )


def _as_rgb(image: Image.Image | np.ndarray) -> Image.Image:
    if isinstance(image, np.ndarray):
        shape_ok = image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (1, 3, 4))
        if image.dtype != np.uint8 or not shape_ok:
            raise BadImageError(
                f"is a {image.dtype} array of shape {image.shape}; expected uint8 (H, W), (H, W, 3) or (H, W, 4)",
                "image array",
            )
        image = Image.fromarray(image[..., 0] if image.ndim == 3 and image.shape[2] == 1 else image)
    if not isinstance(image, Image.Image):
        raise BadImageError(f"is a {type(image).__name__}, not an image", "input")
    return load_image(image)


def _class_scores(
    model: LoadedModel, logits: torch.Tensor, target_index: int, top_k: int
) -> tuple[list[ClassScore], ClassScore]:
    probs = logits.float().softmax(dim=-1)
    indices = probs.topk(max(1, min(top_k, probs.numel()))).indices

    def score(index: int) -> ClassScore:
        return ClassScore(index=index, label=model.labels[index], prob=float(probs[index]))

    return [score(int(i)) for i in indices], score(target_index)


def _explain_vit(
    model: LoadedModel,
    x: torch.Tensor,
    wanted: tuple[MapMethod, ...],
    target_index: int | None,
    options: MapOptions,
    layer: CamLayer,
    clock: _Stopwatch,
) -> _Computed:
    geometry = model.geometry
    assert geometry is not None, "a ViT needs its geometry"
    cams = [m for m in wanted if m.family == "cam"]
    attention_grads_needed = any(m.family == "attention" and m.needs_gradient for m in wanted)
    cam_grad_needed = any(m.needs_gradient for m in cams)
    vit_pass = run_vit(
        model,
        x,
        graph=attention_grads_needed or cam_grad_needed,
        attention_grads=attention_grads_needed,
        cam=bool(cams),
        cam_block=layer.index,
    )
    clock.lap("forward")

    logits = vit_pass.logits.detach()[0]
    index = int(logits.argmax()) if target_index is None else target_index
    attention_grads, cam_grad = vit_pass.gradients(
        vit_pass.logits[0, index],
        attention=attention_grads_needed and vit_pass.readout is not None,
        cam=cam_grad_needed,
    )
    clock.lap("backward")

    to_grid = vit_reshape_transform(geometry)
    inputs = MapInputs(
        target_index=index,
        x=x,
        options=options,
        score_model=_no_grad_logits(model),
        activations=to_grid(vit_pass.cam_activation.detach()) if cams else None,  # (1, C, rows, cols)
        gradients=None if cam_grad is None else to_grid(cam_grad),
        vit_pass=vit_pass,
        attention_grads=attention_grads,
        geometry=geometry,
    )
    out = _Computed(logits=logits, target_index=index, attentions=vit_pass.attentions)
    _compute_maps(out, wanted, inputs)
    return out


def _explain_cnn(
    model: LoadedModel,
    x: torch.Tensor,
    wanted: tuple[MapMethod, ...],
    target_index: int | None,
    options: MapOptions,
    layer: CamLayer,
    clock: _Stopwatch,
) -> _Computed:
    cams = [m for m in wanted if m.family == "cam"]
    needs_gradient = any(m.needs_gradient for m in cams)
    cnn_pass = run_cnn(model, x, graph=needs_gradient, stage=layer.name)
    clock.lap("forward")
    logits = cnn_pass.logits.detach()[0]
    index = int(logits.argmax()) if target_index is None else target_index
    gradients = cnn_pass.feature_gradient(cnn_pass.logits[0, index]) if needs_gradient else None
    clock.lap("backward")

    out = _Computed(logits=logits, target_index=index)
    arch = type(model.network).__name__
    for method in wanted:
        if method.family != "cam":
            out.unavailable[method.name] = NO_ATTENTION.format(arch=arch)
    inputs = MapInputs(
        target_index=index,
        x=x,
        options=options,
        score_model=_no_grad_logits(model),
        activations=cnn_pass.features.detach(),
        gradients=gradients,
    )
    _compute_maps(out, cams, inputs)
    return out


def _compute_maps(out: _Computed, methods: Iterable[MapMethod], inputs: MapInputs) -> None:
    """Each method's raw map from the shared recordings, or the sentence why it does not exist."""
    without_gradients = dataclasses.replace(inputs, gradients=None, attention_grads=None)
    for method in methods:
        try:
            out.raw_maps[method.name] = method.compute(inputs if method.needs_gradient else without_gradients)
        except MapUnavailable as reason:
            out.unavailable[method.name] = str(reason)


def _no_grad_logits(model: LoadedModel):
    def logits(batch: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return model.logits(batch)

    return logits
