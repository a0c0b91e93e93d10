"""The registry of explanation maps: one entry per method, read by everything that names methods.

`explain` computes an entry through its `compute` function; the CLI's `--methods` help and the
app's pickers and captions list the entries; the About page prints their papers. Adding a method
is adding one `MapMethod` to `METHODS` below (ARCHITECTURE.md, "How to add a method").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import numpy as np

from vitdemo.errors import VitdemoError
from vitdemo.explain.attention_maps import cls_map, relevance_map, rollout_map
from vitdemo.explain.cam import library_cam_method
from vitdemo.explain.map_inputs import MapInputs

MethodFamily = Literal["attention", "cam"]
MODEL_FAMILIES: dict[MethodFamily, tuple[str, ...]] = {
    "attention": ("vit",),  # reads a ViT's attention
    "cam": ("vit", "cnn"),  # reads one layer's activations: ResNet stages and ViT blocks alike
}


@dataclass(frozen=True)
class MapMethod:
    """One explanation map.

    Attributes:
        name: the key in `result.maps`, `--methods` and the app's pickers ("gradcam++").
        title: the display name ("Grad-CAM++").
        family: "attention" (a ViT's attention) or "cam" (the chosen layer's activations).
        needs_gradient: whether it reads the target score's gradient (one shared backward pass).
        paper: the reference, "Authors Year, Title".
        description: one technical line (CLI help, About page).
        sentence: one classroom sentence: what the map shows and how to read it (app captions).
        compute: `MapInputs` → raw map (h, w) float ≥ 0 at the model's own resolution; raises
            `MapUnavailable` when the map cannot exist for this model.
        default_for: model families ("vit", "cnn") that get it when the caller names no methods.
        aliases: other spellings `resolve` accepts (normalised: lower case, no "-" or "_").
    """

    name: str
    title: str
    family: MethodFamily
    needs_gradient: bool
    paper: str
    description: str
    sentence: str
    compute: Callable[[MapInputs], np.ndarray]
    default_for: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()

    @property
    def model_families(self) -> tuple[str, ...]:
        """The model families this map exists for."""
        return MODEL_FAMILIES[self.family]


class MethodRegistry:
    """The methods by name, in the order pickers and help list them."""

    def __init__(self, methods: Iterable[MapMethod]) -> None:
        self._methods: dict[str, MapMethod] = {}
        for method in methods:
            self.add(method)

    def add(self, method: MapMethod) -> None:
        if method.name in self._methods:
            raise ValueError(f"a map method named {method.name!r} is already registered")
        self._methods[method.name] = method

    @contextmanager
    def temporarily(self, method: MapMethod) -> Iterator[MapMethod]:
        """Register `method` for the duration of a block (tests, notebooks trying a method out)."""
        self.add(method)
        try:
            yield method
        finally:
            del self._methods[method.name]

    def __contains__(self, name: object) -> bool:
        return name in self._methods

    def __getitem__(self, name: str) -> MapMethod:
        return self._methods[name]

    def get(self, name: str) -> MapMethod | None:
        return self._methods.get(name)

    def names(self, family: MethodFamily | None = None) -> tuple[str, ...]:
        """Every method's name, or those of one method family ("attention" or "cam")."""
        return tuple(m.name for m in self._methods.values() if family is None or m.family == family)

    def applicable(self, model_family: str) -> tuple[str, ...]:
        """Every method that exists for a model family ("vit" or "cnn")."""
        return tuple(m.name for m in self._methods.values() if model_family in m.model_families)

    def defaults(self, model_family: str) -> tuple[str, ...]:
        """What `explain` computes for a model family when the caller does not say."""
        return tuple(m.name for m in self._methods.values() if model_family in m.default_for)

    def resolve(self, model_family: str, requested: Iterable[str] | str | None) -> tuple[str, ...]:
        """Validate requested names (any case, "-"/"_" ignored), in request order, without duplicates.

        Raises:
            VitdemoError: for a name that is not a registered method.
        """
        if requested is None:
            return self.defaults(model_family)
        if isinstance(requested, str):
            requested = [requested]
        by_key = {_key(alias): m.name for m in self._methods.values() for alias in (m.name, *m.aliases)}
        wanted: list[str] = []
        for name in requested:
            found = by_key.get(_key(str(name)))
            if found is None:
                raise VitdemoError(
                    f"'{name}' is not an explanation method; choose from {', '.join(self.names())}."
                )
            if found not in wanted:
                wanted.append(found)
        return tuple(wanted)


def _key(name: str) -> str:
    return name.strip().lower().replace("_", "").replace("-", "").replace("plusplus", "++")


METHODS = MethodRegistry(
    [
        MapMethod(
            name="cls",
            title="CLS attention",
            family="attention",
            needs_gradient=False,
            paper="Dosovitskiy et al. 2021, An Image is Worth 16x16 Words",
            description="Attention of the class token to each patch (one layer; heads averaged or one head).",
            sentence="Where the class token looks in the last layer (mean over heads): the patches it reads "
            "right before the prediction.",
            compute=cls_map,
            default_for=("vit",),
            aliases=("cls_attention",),
        ),
        MapMethod(
            name="rollout",
            title="Attention rollout",
            family="attention",
            needs_gradient=False,
            paper="Abnar & Zuidema 2020, Quantifying Attention Flow in Transformers",
            description="Attention rollout: attention multiplied through all layers.",
            sentence="Attention multiplied through every layer, skip connections included: how much each patch "
            "flows into the class token overall, whatever the class.",
            compute=rollout_map,
            default_for=("vit",),
        ),
        MapMethod(
            name="relevance",
            title="Gradient relevance",
            family="attention",
            needs_gradient=True,
            paper="Chefer et al. 2021, Generic Attention-model Explainability",
            description="Gradient-weighted attention relevance: class-specific rollout.",
            sentence="Attention weighted by its gradient for the chosen class and propagated through the layers: "
            "only attention that supports this class survives.",
            compute=relevance_map,
            default_for=("vit",),
        ),
        MapMethod(
            name="gradcam",
            title="Grad-CAM",
            family="cam",
            needs_gradient=True,
            paper="Selvaraju et al. 2017, Grad-CAM",
            description="Grad-CAM: activations weighted by the mean gradient of the class score.",
            sentence="A late feature map weighted by how much each channel raises the chosen class's score: "
            "warm regions push the prediction towards that class.",
            compute=library_cam_method("GradCAM"),
            default_for=("vit", "cnn"),
        ),
        MapMethod(
            name="gradcam++",
            title="Grad-CAM++",
            family="cam",
            needs_gradient=True,
            paper="Chattopadhyay et al. 2018, Grad-CAM++",
            description="Grad-CAM++: like Grad-CAM, with higher-order gradient weights.",
            sentence="Grad-CAM with pixel-wise weights, which spreads credit over several instances of an object "
            "instead of the single strongest one.",
            compute=library_cam_method("GradCAMPlusPlus"),
            default_for=("cnn",),
            aliases=("gradcampp",),
        ),
        MapMethod(
            name="hirescam",
            title="HiResCAM",
            family="cam",
            needs_gradient=True,
            paper="Draelos & Carin 2020, Use HiResCAM instead of Grad-CAM",
            description="HiResCAM: element-wise gradient × activation, faithful to the model's score.",
            sentence="Multiplies gradients and activations element-wise before summing: faithful to the model "
            "at the cost of noisier maps.",
            compute=library_cam_method("HiResCAM"),
            default_for=("cnn",),
        ),
        MapMethod(
            name="layercam",
            title="LayerCAM",
            family="cam",
            needs_gradient=True,
            paper="Jiang et al. 2021, LayerCAM",
            description="LayerCAM: positive gradients × activations, location by location.",
            sentence="Keeps only positive gradients at each position: sharper maps that also work on earlier "
            "layers.",
            compute=library_cam_method("LayerCAM"),
            default_for=("cnn",),
        ),
        MapMethod(
            name="eigencam",
            title="EigenCAM",
            family="cam",
            needs_gradient=False,
            paper="Muhammad & Yeasin 2020, Eigen-CAM",
            description="EigenCAM: first principal component of the activations (class-agnostic).",
            sentence="The main direction of the feature map (its first principal component), with no gradient: "
            "what the layer finds salient, not tied to one class.",
            compute=library_cam_method("EigenCAM"),
            default_for=("cnn",),
        ),
        MapMethod(
            name="scorecam",
            title="Score-CAM",
            family="cam",
            needs_gradient=False,
            paper="Wang et al. 2020, Score-CAM",
            description="Score-CAM: each channel scored by a forward pass on the masked image (slow).",
            sentence="Masks the image with each channel and measures the class score directly; no gradients, "
            "but one forward pass per channel (slow).",
            compute=library_cam_method("ScoreCAM"),
        ),
    ]
)


def resolve_methods(family: str, methods: Iterable[str] | str | None) -> tuple[str, ...]:
    """`METHODS.resolve`: the requested map names, validated; the family's defaults for None."""
    return METHODS.resolve(family, methods)
