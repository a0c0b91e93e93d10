"""timm networks: architecture checks, geometry, preprocessing and labels read from the model itself.

Used for `vit`, `resnet`, `timm:NAME` specs and for every timm-based model directory (bundled demo
models, fine-tuning runs, timm export folders).
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import timm
import torch
from timm.data import ImageNetInfo, infer_imagenet_subset, resolve_model_data_config
from timm.models import get_pretrained_cfg, model_entrypoint, split_model_name_tag

import vitdemo.models.architectures  # noqa: F401  (registers our own architectures with timm)
from vitdemo.errors import ModelNotAvailableError, ModelSpecError, one_line
from vitdemo.models.hub import hub_file
from vitdemo.models.loaded import Family, LoadedModel, Preprocessing, VitGeometry
from vitdemo.models.specs import ModelSpec

# timm modules whose models we can explain, and their family. Hybrids are ViTs on a CNN stem.
SUPPORTED_TIMM_MODULES: dict[str, Family] = {
    "timm.models.vision_transformer": "vit",
    "timm.models.deit": "vit",
    "timm.models.vision_transformer_hybrid": "vit",
    "timm.models.resnet": "cnn",
    "vitdemo.models.architectures": "vit",  # our small ViTs (demo-vit is the hybrid one), registered with timm
}
RANDOM_INIT_SEED = 0  # untrained weights are the same on every load: a class can compare screens
_INIT_LOCK = threading.Lock()


def timm_family(name: str) -> Family:
    """The family of a timm architecture, checked from the registry before anything is built.

    Raises:
        ModelSpecError: unknown name (with close matches), or an architecture that is neither a
            ViT/DeiT nor a ResNet.
    """
    arch, _tag = split_model_name_tag(name)
    if not timm.is_model(arch):
        close = difflib.get_close_matches(arch, timm.list_models(), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ModelSpecError(f"timm has no model named '{arch}'.{hint}")
    module = model_entrypoint(arch).__module__
    if module not in SUPPORTED_TIMM_MODULES:
        kind = module.rsplit(".", 1)[-1]
        raise ModelSpecError(
            f"{arch} is a timm '{kind}' model; vitdemo explains Vision Transformers (ViT, DeiT) and ResNets only."
        )
    return SUPPORTED_TIMM_MODULES[module]


def network_family(network: torch.nn.Module, name: str) -> Family:
    """The family of a built network; the final word on what the explain code may assume."""
    from timm.models.resnet import ResNet
    from timm.models.vision_transformer import VisionTransformer

    if isinstance(network, VisionTransformer):
        return "vit"
    if isinstance(network, ResNet):
        return "cnn"
    raise ModelSpecError(
        f"{name} builds a {type(network).__name__}, which is neither a timm ViT nor a ResNet."
    )


def vit_geometry(network: torch.nn.Module, preprocessing: Preprocessing) -> VitGeometry:
    """Token layout read from a timm VisionTransformer (distilled DeiT: 2 prefix tokens, registers: more)."""
    grid = tuple(int(v) for v in network.patch_embed.grid_size)
    height, width = preprocessing.input_size
    # Pixels per token from the input size: right for hybrids too, whose patch_size is in feature cells.
    patch = (height // grid[0], width // grid[1])
    return VitGeometry(
        grid_size=(grid[0], grid[1]),
        patch_size=patch,
        num_prefix_tokens=int(network.num_prefix_tokens),
        has_class_token=bool(
            getattr(network, "has_class_token", getattr(network, "cls_token", None) is not None)
        ),
    )


def timm_preprocessing(network: torch.nn.Module) -> Preprocessing:
    """The network's timm data config (input size, mean/std, interpolation, crop); timm applies it."""
    cfg = resolve_model_data_config(network)
    return Preprocessing.from_dict({**cfg, "input_size": list(cfg["input_size"])})


def timm_labels(network: torch.nn.Module) -> list[str]:
    """Class names: the config's own label names, else ImageNet names by class count, else "class i"."""
    num_classes = int(network.num_classes)
    names = (getattr(network, "pretrained_cfg", None) or {}).get("label_names")
    if names and len(names) == num_classes:
        return [str(n) for n in names]
    subset = infer_imagenet_subset(network)
    if subset:
        return list(ImageNetInfo(subset).label_descriptions())
    return [f"class {i}" for i in range(num_classes)]


@contextmanager
def seeded_init(seed: int = RANDOM_INIT_SEED) -> Iterator[None]:
    """Deterministic random initialisation that leaves the caller's RNG state untouched."""
    with _INIT_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def finish_timm_model(
    spec_text: str,
    network: torch.nn.Module,
    *,
    source: str,
    card: dict[str, Any],
    preprocessing: Preprocessing | None = None,
    labels: list[str] | None = None,
) -> LoadedModel:
    """Wrap a built timm network: family, preprocessing, labels and geometry read from it."""
    family = network_family(network, spec_text)
    preprocessing = preprocessing or timm_preprocessing(network)
    labels = labels if labels is not None else timm_labels(network)
    if len(labels) != int(network.num_classes):
        raise ModelSpecError(
            f"{spec_text}: {len(labels)} labels for a network with {network.num_classes} outputs."
        )
    return LoadedModel(
        spec=spec_text,
        network=network.eval(),
        preprocessing=preprocessing,
        labels=labels,
        family=family,
        backend="timm",
        geometry=vit_geometry(network, preprocessing) if family == "vit" else None,
        source=source,
        card=card,
    )


def load_timm(spec: ModelSpec) -> LoadedModel:
    """`vit`, `resnet`, `timm:NAME[.TAG]`, optionally `@random`: pretrained weights from the HF cache."""
    timm_family(spec.name)
    cfg = _pretrained_cfg(spec)
    full_name = f"{cfg.architecture}.{cfg.tag}" if cfg.tag else str(cfg.architecture)
    card = {"timm_name": full_name, "model_kwargs": {}}
    if not cfg.num_classes:
        raise ModelSpecError(
            f"{spec.text} is a feature extractor without a classifier head; pick a classifier tag "
            "(e.g. one ending in _in1k)."
        )
    if spec.random:
        with seeded_init():
            network = timm.create_model(full_name, pretrained=False)
        return finish_timm_model(
            spec.text, network, source=f"timm {full_name}, untrained (random) weights", card=card
        )
    if not cfg.hf_hub_id:
        raise ModelSpecError(
            f"{spec.text}: timm publishes no weights for {full_name}; add @random for untrained weights."
        )
    weights = hub_file(cfg.hf_hub_id, _weight_candidates(cfg.hf_hub_filename), spec_text=spec.text)
    network = _create_with_weights(spec, full_name, weights)
    card = {**card, "hf_hub_id": cfg.hf_hub_id, "weights_file": str(weights)}
    return finish_timm_model(
        spec.text,
        network,
        source=f"timm {full_name}, pretrained weights from the Hugging Face cache",
        card=card,
    )


def load_timm_export_dir(path: Path, spec: ModelSpec, config: dict[str, Any]) -> LoadedModel:
    """A folder written by timm's `save_for_hf` / `push_to_hf_hub` (config.json with "architecture")."""
    timm_family(str(config["architecture"]))
    try:
        with seeded_init():
            network = timm.create_model(f"local-dir:{path}", pretrained=not spec.random)
    except Exception as err:
        raise ModelSpecError(
            f"{spec.text}: this timm model folder cannot be loaded ({one_line(err)})."
        ) from None
    weights = "untrained (random) weights" if spec.random else "its own weights"
    card = {"timm_name": str(config["architecture"]), "model_kwargs": dict(config.get("model_args", {}))}
    return finish_timm_model(spec.text, network, source=f"timm model folder {path}, {weights}", card=card)


def _pretrained_cfg(spec: ModelSpec) -> Any:
    try:
        cfg = get_pretrained_cfg(spec.name)
    except RuntimeError:  # timm's "Invalid pretrained tag" for an unknown .tag
        arch, tag = split_model_name_tag(spec.name)
        tags = [n.split(".", 1)[1] for n in timm.list_pretrained(arch) if "." in n]
        known = f" Known tags: {', '.join(tags)}." if tags else ""
        raise ModelSpecError(f"{spec.text}: timm has no pretrained tag '{tag}' for {arch}.{known}") from None
    if cfg is None:
        raise ModelSpecError(f"{spec.text}: timm has no pretrained config for {spec.name}; add @random.")
    return cfg


def _weight_candidates(hf_hub_filename: str | None) -> list[str]:
    # The files timm itself would fetch, safetensors first (see timm.models._hub.load_state_dict_from_hf).
    if hf_hub_filename:
        stem = hf_hub_filename.rsplit(".", 1)[0].replace("pytorch_model", "model")
        return [f"{stem}.safetensors", hf_hub_filename]
    return ["model.safetensors", "pytorch_model.bin"]


def _create_with_weights(spec: ModelSpec, full_name: str, weights: Path) -> torch.nn.Module:
    # The file overlay makes timm run its usual pretrained loading (filters, classifier checks) on the
    # cached file, without a second trip to the hub. custom_load is for timm's legacy .npz files only.
    overlay = {"file": str(weights), "source": None, "custom_load": False}
    try:
        return timm.create_model(full_name, pretrained=True, pretrained_cfg_overlay=overlay)
    except Exception as err:
        raise ModelNotAvailableError(
            f"{spec.text}: the cached weights at {weights} cannot be loaded ({one_line(err)}); delete that file and "
            f"run `python -m vitdemo fetch {spec.without_random}` again."
        ) from None
