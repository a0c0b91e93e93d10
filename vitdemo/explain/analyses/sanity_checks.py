"""Sanity checks for saliency maps: cascading model-parameter randomisation (Adebayo et al. 2018).

A map that explains the model must change when the model's learned weights are destroyed. Starting
from the output, the classifier head, then each block (or ResNet stage) down to the first, and
finally the embedding/stem, are re-initialised one after another — cumulatively — and every map
method is run again on the same image for the same class. Spearman rank correlation and SSIM
against the trained model's map are recorded per step. A method whose map stays similar with
every weight random shows the image (edges, contrast) rather than what the model learned.

Everything happens on a deep copy of the network: the shared model is only read (under its lock,
so no other call's hooks are copied along). Re-initialisation uses each layer's own
`reset_parameters` (PyTorch's default init for Linear, Conv, LayerNorm, BatchNorm); parameters
held directly by a module (position embeddings, class token, layer scales) are drawn from
N(0, 0.02²) as timm initialises them. The global RNG is forked and seeded per step, so a check
is reproducible and leaves every other caller's random state untouched.
"""

from __future__ import annotations

import copy
import dataclasses
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image

from vitdemo.explain.analyses.map_similarity import rank_correlation, structural_similarity
from vitdemo.explain.attention_capture import transformer_blocks
from vitdemo.explain.cnn_capture import cnn_stages
from vitdemo.explain.engine import explain
from vitdemo.explain.methods import METHODS
from vitdemo.models.loaded import LoadedModel

# Mean rank correlation with the trained map over the randomisation steps at or above which a method
# fails: its map still orders the pixels much as before, so it hardly depends on the weights. The
# mean over the cascade, not the last step alone: a map that only changes once the very first
# layer is random barely depended on the model, and single steps of a blank map are noisy.
FAIL_CORRELATION = 0.5
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class CascadeStage:
    """One step of the cascade: the modules (and bare parameters) re-initialised together."""

    name: str  # "head", "block 12", "layer4", "embedding", ...
    modules: tuple[torch.nn.Module, ...]
    parameters: tuple[torch.nn.Parameter, ...] = ()


@dataclass
class SanityCheck:
    """Similarity of each method's map to the trained model's, per randomisation step.

    Attributes:
        steps: "trained", then each stage re-initialised (cumulative), output side first.
        spearman: method → float (steps,), rank correlation with the trained map (1 at step 0).
        ssim: method → float (steps,), structural similarity with the trained map.
        maps: method → float32 (steps, H, W), every step's map (for a strip of thumbnails).
        unavailable: method → why it has no map for this model.
        target_index: the class every step explains (the trained model's choice).
    """

    steps: list[str]
    spearman: dict[str, np.ndarray] = field(default_factory=dict)
    ssim: dict[str, np.ndarray] = field(default_factory=dict)
    maps: dict[str, np.ndarray] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    target_index: int = 0

    def mean_correlation(self, method: str) -> float:
        """Mean rank correlation with the trained map over all randomisation steps (step 0 left out)."""
        return float(np.mean(self.spearman[method][1:]))

    def passes(self, method: str) -> bool:
        """True when, on average over the cascade, the map no longer resembles the trained one."""
        return self.mean_correlation(method) < FAIL_CORRELATION

    def verdict(self, method: str, title: str | None = None) -> str:
        """One plain sentence: does `method` pass the check, and why."""
        name = title or method
        mean = self.mean_correlation(method)
        # Unchanged after the head alone is random: the map never reads the class score.
        head_blind = (
            " It ignores the classifier head: the same map for every class."
            if float(self.spearman[method][1]) > 0.95
            else ""
        )
        if not self.passes(method):
            return (
                f"{name} fails: while the weights are destroyed layer by layer its map keeps a mean rank "
                f"correlation of {mean:.2f} with the trained one, so it shows the image more than what "
                f"the model learned.{head_blind}"
            )
        changed = self.steps[next(i for i, rho in enumerate(self.spearman[method]) if rho < FAIL_CORRELATION)]
        stage = f"the {changed}" if changed in ("head", "embedding") else changed
        return (
            f"{name} passes: its map departs from the trained one once {stage} is "
            f"randomised (mean rank correlation {mean:.2f} over the cascade).{head_blind}"
        )


def cascade_stages(model: LoadedModel, network: torch.nn.Module) -> list[CascadeStage]:
    """The stages of `network` (an architecture-identical copy of `model.network`), output side first."""
    if model.backend == "hf":
        blocks = transformer_blocks(dataclasses.replace(model, network=network))
        head = (network.vit.layernorm, network.classifier)
        stages = [CascadeStage(f"block {i + 1}", (b,)) for i, b in reversed(list(enumerate(blocks)))]
        return [CascadeStage("head", head), *stages, CascadeStage("embedding", (network.vit.embeddings,))]
    if model.family == "vit":
        blocks = list(network.blocks)
        head_names = ("norm", "fc_norm", "attn_pool", "head", "head_dist")
        middle = [CascadeStage(f"block {i + 1}", (b,)) for i, b in reversed(list(enumerate(blocks)))]
        skip = {"blocks", *head_names}
    else:
        stages = cnn_stages(network)
        head_names = ("global_pool", "fc")
        middle = [CascadeStage(name, (network.get_submodule(name),)) for name in reversed(stages)]
        skip = {*stages, *head_names}
    head = tuple(m for n in head_names if isinstance(m := getattr(network, n, None), torch.nn.Module))
    rest = tuple(m for n, m in network.named_children() if n not in skip)
    bare = tuple(network.parameters(recurse=False))  # class token, position embedding, registers
    return [CascadeStage("head", head), *middle, CascadeStage("embedding", rest, bare)]


def reinitialise(stage: CascadeStage, seed: int) -> None:
    """Draw fresh weights for every parameter of `stage`, reproducibly (see the module docstring)."""
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        for module in stage.modules:
            for sub in module.modules():
                if hasattr(sub, "reset_parameters"):
                    sub.reset_parameters()
                else:
                    for parameter in sub.parameters(recurse=False):
                        torch.nn.init.trunc_normal_(parameter, std=0.02)
        for parameter in stage.parameters:
            torch.nn.init.trunc_normal_(parameter, std=0.02)


def randomised_copy(model: LoadedModel) -> LoadedModel:
    """A private deep copy of the model (own network, own lock) that may be modified freely."""
    with model.lock:  # no other call's hooks are registered while we copy
        network = copy.deepcopy(model.network)
    return dataclasses.replace(model, network=network, lock=threading.RLock(), spec=f"{model.spec} (copy)")


def applicable_methods(model: LoadedModel) -> tuple[str, ...]:
    """Every map method the explain engine offers for this model's family."""
    return METHODS.applicable(model.family)


def cascading_randomisation(
    model: LoadedModel,
    image: Image.Image | np.ndarray,
    methods: Iterable[str] | None = None,
    *,
    target: int | str | None = None,
    cam_layer: str | None = None,
    seed: int = 0,
    progress: Progress | None = None,
) -> SanityCheck:
    """Run every method on the trained model, then after each cumulative re-initialisation step.

    Args:
        model: the (shared) trained model; it is never modified.
        image: the image to explain.
        methods: map names (`vitdemo.explain.methods.METHODS`); default every one that applies.
        target: class to explain; default the trained model's top-1 (kept for every step).
        cam_layer: the Grad-CAM family's layer, as for `explain`.
        seed: seeds the re-initialisation.
        progress: called as progress(done, total, step name) after each step.

    Returns:
        A `SanityCheck` with per-step similarities and maps.
    """
    wanted = tuple(methods) if methods is not None else applicable_methods(model)
    trained = explain(model, image, target=target, methods=wanted, cam_layer=cam_layer)
    copy_model = randomised_copy(model)
    stages = cascade_stages(model, copy_model.network)
    total = len(stages) + 1
    check = SanityCheck(["trained"], unavailable=dict(trained.unavailable), target_index=trained.target.index)
    per_step = [trained.maps]
    if progress:
        progress(1, total, "trained")
    for step, stage in enumerate(stages, start=1):
        reinitialise(stage, seed + step)
        result = explain(copy_model, image, target=check.target_index, methods=wanted, cam_layer=cam_layer)
        per_step.append(result.maps)
        check.steps.append(stage.name)
        if progress:
            progress(step + 1, total, stage.name)
    for name in trained.maps:
        reference = trained.maps[name]
        series = [maps.get(name, np.zeros_like(reference)) for maps in per_step]
        check.maps[name] = np.stack(series).astype(np.float32)
        check.spearman[name] = np.array([rank_correlation(reference, m) for m in series])
        check.ssim[name] = np.array([structural_similarity(reference, m) for m in series])
    return check
