"""Model specs: the strings users type to pick a model, parsed into plain data.

    demo-vit, demo-hybrid,       bundled models trained on the Shapes dataset (always offline)
    demo-resnet
    vit, resnet                  the default ImageNet models (timm ViT-B/16 and ResNet-50)
    timm:NAME[.TAG]              any timm ViT / DeiT / ResNet, pretrained tag optional
    hf:OWNER/REPO                a ViTForImageClassification repository on the Hugging Face Hub
    PATH                         a local directory: one of our model directories (fine-tuning runs),
                                 a `save_pretrained` folder, or a timm export folder
    any of the above + @random   the same architecture with untrained (random) weights

Parsing is pure string work (no torch, no timm): the CLI can reject a typo before importing anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from vitdemo.errors import ModelSpecError

SpecKind = Literal["bundled", "timm", "hf", "dir"]

RANDOM_SUFFIX = "@random"
BUNDLED_SPECS = ("demo-vit", "demo-hybrid", "demo-resnet")
# What a new app session starts with: the ViT and the ResNet (the hybrid is for comparing).
DEFAULT_DEMO_SPECS = ("demo-vit", "demo-resnet")
# The default ImageNet models, by alias (timm names with their pretrained tag).
DEFAULT_TIMM_MODELS = {
    "vit": "vit_base_patch16_224.augreg2_in21k_ft_in1k",
    "resnet": "resnet50.a1_in1k",
}

_HF_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_TIMM_NAME = re.compile(r"^[a-z0-9_]+(\.[\w-]+)?$")

SPEC_HELP = (
    "demo-vit, demo-hybrid, demo-resnet, vit, resnet, timm:NAME, hf:OWNER/REPO or a model directory, "
    f"optionally followed by {RANDOM_SUFFIX} for untrained weights"
)


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model spec.

    Attributes:
        text: the spec exactly as the user wrote it (kept for messages and provenance).
        kind: which loader handles it.
        name: the bundled model's name, the timm model name (with tag), the HF repo id, or the path.
        random: True for untrained weights (the `@random` suffix).
    """

    text: str
    kind: SpecKind
    name: str
    random: bool = False

    @property
    def without_random(self) -> str:
        """The spec naming the pretrained weights (what `fetch` downloads)."""
        text = self.text.strip()
        return text[: -len(RANDOM_SUFFIX)] if self.random else text


def parse_spec(text: str) -> ModelSpec:
    """Parse a model spec string (see the module docstring for the forms).

    Args:
        text: what the user typed, e.g. "vit", "timm:deit_tiny_distilled_patch16_224@random".

    Raises:
        ModelSpecError: the string matches no form; the message shows the forms that exist.
    """
    if not isinstance(text, str) or not text.strip():
        raise ModelSpecError(f"No model given: use one of {SPEC_HELP}.")
    spec = text.strip()
    random = spec.lower().endswith(RANDOM_SUFFIX)
    body = spec[: -len(RANDOM_SUFFIX)] if random else spec
    if not body:
        raise ModelSpecError(f"'{text}' names no model before {RANDOM_SUFFIX}: use one of {SPEC_HELP}.")

    if body in BUNDLED_SPECS:
        return ModelSpec(text, "bundled", body, random)
    if body in DEFAULT_TIMM_MODELS:
        return ModelSpec(text, "timm", DEFAULT_TIMM_MODELS[body], random)
    if body.startswith("timm:"):
        return ModelSpec(text, "timm", _timm_name(body[len("timm:") :], text), random)
    if body.startswith("hf:"):
        return ModelSpec(text, "hf", _hf_repo_id(body[len("hf:") :], text), random)
    if _looks_like_path(body):
        return ModelSpec(text, "dir", str(Path(body).expanduser()), random)
    raise ModelSpecError(_unknown_spec_message(text, body))


def _timm_name(name: str, text: str) -> str:
    name = name.strip()
    if not _TIMM_NAME.match(name):
        raise ModelSpecError(
            f"'{text}' is not a timm model name: write timm:NAME or timm:NAME.TAG, e.g. "
            "timm:deit_tiny_patch16_224.fb_in1k."
        )
    return name


def _hf_repo_id(repo_id: str, text: str) -> str:
    repo_id = repo_id.strip()
    if not _HF_REPO_ID.match(repo_id) or ".." in repo_id:
        raise ModelSpecError(
            f"'{text}' is not a Hugging Face repository id: write hf:OWNER/NAME, e.g. hf:google/vit-base-patch16-224."
        )
    return repo_id


def _looks_like_path(body: str) -> bool:
    return "/" in body or "\\" in body or body.startswith((".", "~")) or Path(body).expanduser().exists()


def _unknown_spec_message(text: str, body: str) -> str:
    if _TIMM_NAME.match(body) and _is_timm_model(body):
        return f"Unknown model '{text}': for the timm model write timm:{body}; the forms are {SPEC_HELP}."
    return f"Unknown model '{text}': use one of {SPEC_HELP}."


def _is_timm_model(name: str) -> bool:
    import timm  # only on this error path: parsing a good spec stays free of heavy imports

    return timm.is_model(name.split(".", 1)[0])
