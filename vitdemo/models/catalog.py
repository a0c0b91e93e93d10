"""What models exist here and now: bundled, cached, and the known downloadable ones.

`list_models()` backs `python -m vitdemo models` and the app's model picker. It only looks at the
disk (the package and the HF cache); it never touches the network and never builds a network.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from vitdemo.models.model_dir import is_model_dir
from vitdemo.models.specs import BUNDLED_SPECS, DEFAULT_TIMM_MODELS

Status = Literal["bundled", "cached", "download", "missing"]

BUNDLED_ROOT = Path(__file__).parent / "bundled"
_TIMM_WEIGHT_FILES = ["model.safetensors", "pytorch_model.bin"]
BUNDLED_DESCRIPTIONS = {
    "demo-vit": "bundled demo ViT, trained on Shapes: 14×14 tokens of 16×16 px from a small conv stem",
    "demo-hybrid": "bundled ViT-paper hybrid (R+ViT), trained on Shapes: demo-resnet's stages make its tokens",
    "demo-resnet": "bundled demo ResNet trained on the Shapes dataset",
}
# Worth fetching before class: (spec, what it shows). The first two are the app's defaults.
KNOWN_DOWNLOADABLE: tuple[tuple[str, str], ...] = (
    ("vit", f"default ViT-B/16, ImageNet-1k (timm {DEFAULT_TIMM_MODELS['vit']}, 350 MB)"),
    ("resnet", f"default ResNet-50, ImageNet-1k (timm {DEFAULT_TIMM_MODELS['resnet']}, 100 MB)"),
    ("timm:deit_tiny_patch16_224.fb_in1k", "DeiT-Tiny, ImageNet-1k (23 MB): fast on any laptop"),
    (
        "timm:deit_small_distilled_patch16_224.fb_in1k",
        "distilled DeiT-Small: class + distillation token (90 MB)",
    ),
    (
        "timm:vit_medium_patch16_reg4_gap_256.sbb_in12k_ft_in1k",
        "ViT with 4 register tokens, no class token (160 MB)",
    ),
    ("timm:resnet18.a1_in1k", "ResNet-18, ImageNet-1k (47 MB)"),
    ("hf:google/vit-base-patch16-224", "Google's ViT-B/16 in transformers, ImageNet-1k (350 MB)"),
)


@dataclass(frozen=True)
class ModelInfo:
    """One row of the model list.

    Attributes:
        spec: what to pass to `load_model` / `--model`.
        description: one line for a person.
        status: "bundled" (ships with vitdemo), "cached" (in the local HF cache), "download"
            (needs internet once: `python -m vitdemo fetch SPEC`), "missing" (bundled but absent).
    """

    spec: str
    description: str
    status: Status

    @property
    def offline(self) -> bool:
        """Loads right now without a network."""
        return self.status in ("bundled", "cached")

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "offline": self.offline}


def bundled_root() -> Path:
    """Where the bundled model directories live (a module attribute, so tests can point it elsewhere)."""
    return BUNDLED_ROOT


def list_models() -> list[ModelInfo]:
    """Bundled models, the known downloadable ones (cached or not) and anything else usable in the HF cache."""
    rows = [_bundled_row(name) for name in BUNDLED_SPECS]
    for spec, description in KNOWN_DOWNLOADABLE:
        rows.append(ModelInfo(spec, description, "cached" if available_offline(spec) else "download"))
    listed = {_canonical(row.spec) for row in rows}
    for spec, description in _other_cached_models():
        if _canonical(spec) not in listed:
            rows.append(ModelInfo(spec, description, "cached"))
    return rows


def available_offline(spec_text: str) -> bool:
    """True when `load_model(spec_text)` needs no network: bundled, local, @random timm, or cached.

    Raises:
        ModelSpecError: the spec does not parse.
    """
    from vitdemo.models.hf_models import HF_WEIGHT_FILES
    from vitdemo.models.hub import cached_file
    from vitdemo.models.specs import parse_spec

    spec = parse_spec(spec_text)
    if spec.kind == "bundled":
        return is_model_dir(bundled_root() / spec.name)
    if spec.kind == "dir":
        return Path(spec.name).is_dir()
    if spec.kind == "timm":
        repo = _timm_repo(spec.name)
        return spec.random or (repo is not None and cached_file(repo, _TIMM_WEIGHT_FILES) is not None)
    if cached_file(spec.name, ["config.json"]) is None:
        return False
    return spec.random or cached_file(spec.name, HF_WEIGHT_FILES) is not None


def _bundled_row(name: str) -> ModelInfo:
    present = is_model_dir(bundled_root() / name)
    return ModelInfo(name, BUNDLED_DESCRIPTIONS[name], "bundled" if present else "missing")


def _canonical(spec_text: str) -> str:
    """Compare specs by the weights they name: `vit` and `timm:vit_base_patch16_224.augreg2_…` are one."""
    for alias, name in DEFAULT_TIMM_MODELS.items():
        if spec_text in (alias, f"timm:{name}"):
            return f"timm:{name}"
    return spec_text


def _timm_repo(name: str) -> str | None:
    from timm.models import get_pretrained_cfg

    try:
        cfg = get_pretrained_cfg(name)
    except RuntimeError:
        return None
    return cfg.hf_hub_id if cfg is not None else None


def _other_cached_models() -> list[tuple[str, str]]:
    """Usable models found in the HF cache: timm ViTs/ResNets and transformers ViT classifiers."""
    from vitdemo.models.hub import cache_dir, cached_file

    found: list[tuple[str, str]] = []
    root = cache_dir()
    if not root.is_dir():
        return found
    for repo_dir in sorted(root.glob("models--*")):
        repo_id = repo_dir.name[len("models--") :].replace("--", "/")
        if repo_id.startswith("timm/"):
            spec = _cached_timm_spec(repo_id)
            if spec:
                found.append((spec, "timm model in the local cache"))
            continue
        config = cached_file(repo_id, ["config.json"])
        if config is not None and _is_vit_classifier(config) and available_offline(f"hf:{repo_id}"):
            found.append((f"hf:{repo_id}", "transformers ViT classifier in the local cache"))
    return found


def _cached_timm_spec(repo_id: str) -> str | None:
    from vitdemo.errors import ModelSpecError
    from vitdemo.models.timm_models import timm_family

    name = repo_id.split("/", 1)[1]
    try:
        timm_family(name)
    except (ModelSpecError, RuntimeError):
        return None
    spec = f"timm:{name}"
    return spec if available_offline(spec) else None


def _is_vit_classifier(config_path: Path) -> bool:
    try:
        config = json.loads(config_path.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return config.get("model_type") == "vit" and "ViTForImageClassification" in (
        config.get("architectures") or []
    )
