"""Hugging Face `ViTForImageClassification` models: hub repositories and `save_pretrained` folders.

Both go through `load_hf_folder`: a hub spec first puts the repository's files in the standard HF
cache (or finds them there) and then loads the cached snapshot folder exactly like a local folder.
Attention is loaded "eager" so `output_attentions=True` returns the softmax weights.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PIL import Image

from vitdemo.errors import ModelSpecError, one_line
from vitdemo.models.hub import hub_file
from vitdemo.models.loaded import LoadedModel, Preprocessing, VitGeometry
from vitdemo.models.specs import ModelSpec

HF_ARCHITECTURE = "ViTForImageClassification"
HF_WEIGHT_FILES = ["model.safetensors", "pytorch_model.bin"]  # .bin is read with weights_only=True
# PIL resample codes used in image processor configs → our interpolation names.
_RESAMPLE_NAMES = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "bilinear", 5: "bilinear"}


def load_hf_repo(spec: ModelSpec) -> LoadedModel:
    """`hf:OWNER/REPO[@random]`: a ViT classifier from the HF cache, downloaded first when possible."""
    repo_id = spec.name
    config_path = hub_file(repo_id, ["config.json"], spec_text=spec.text)
    check_hf_vit_config(_read_json(config_path, spec.text), spec.text)  # before a large weights download
    folder = config_path.parent
    if not spec.random:
        folder = hub_file(repo_id, HF_WEIGHT_FILES, spec_text=spec.text).parent
    hub_file(repo_id, ["preprocessor_config.json"], spec_text=spec.text, required=False)
    return load_hf_folder(folder, spec, source=f"Hugging Face repository {repo_id} (local cache)")


def load_hf_folder(folder: Path, spec: ModelSpec, *, source: str | None = None) -> LoadedModel:
    """A `save_pretrained` folder (or cached hub snapshot) holding a ViTForImageClassification."""
    config = _read_json(folder / "config.json", spec.text)
    check_hf_vit_config(config, spec.text)
    network = _build_network(folder, spec)
    preprocessing = hf_preprocessing(folder, network.config, spec.text)
    id2label = network.config.id2label or {}
    labels = [str(id2label.get(i, f"class {i}")) for i in range(network.config.num_labels)]
    patch = int(network.config.patch_size)
    grid = (preprocessing.input_size[0] // patch, preprocessing.input_size[1] // patch)
    weights = "untrained (random) weights" if spec.random else "its own weights"
    return LoadedModel(
        spec=spec.text,
        network=network.eval(),
        preprocessing=preprocessing,
        labels=labels,
        family="vit",
        backend="hf",
        geometry=VitGeometry(
            grid_size=grid, patch_size=(patch, patch), num_prefix_tokens=1, has_class_token=True
        ),
        source=f"{source or f'Hugging Face model folder {folder}'}, {weights}",
        card={"hf_config": network.config.to_dict(), "folder": str(folder)},
    )


def check_hf_vit_config(config: dict[str, Any], spec_text: str) -> None:
    """Accept only ViT image classifiers; say what the folder is otherwise."""
    if "architecture" in config and "model_type" not in config:
        name = config["architecture"]
        raise ModelSpecError(f"{spec_text} is a timm model, not a transformers one: load it as timm:{name}.")
    model_type = config.get("model_type")
    architectures = config.get("architectures") or []
    if model_type == "vit" and HF_ARCHITECTURE in architectures:
        return
    if model_type == "vit":
        raise ModelSpecError(
            f"{spec_text} is a ViT backbone ({', '.join(architectures) or 'no architecture'}) without an image "
            "classification head; vitdemo needs a ViTForImageClassification."
        )
    found = ", ".join(architectures) or str(model_type)
    raise ModelSpecError(
        f"{spec_text} is a {found} model; from the hub vitdemo loads {HF_ARCHITECTURE} repositories "
        "(for ResNets and DeiTs use resnet or timm:NAME)."
    )


def hf_preprocessing(folder: Path, model_config: Any, spec_text: str) -> Preprocessing:
    """The repository's image processor (AutoImageProcessor), with its facts read from it.

    A folder without a processor config gets what transformers uses for a ViT, sized for the model.
    """
    processor = _image_processor(folder, model_config, spec_text)
    size = model_config.image_size
    wanted = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    probe = processor(Image.new("RGB", (3 * wanted[1], 2 * wanted[0])), return_tensors="pt").pixel_values
    if tuple(probe.shape[-2:]) != wanted:
        raise ModelSpecError(
            f"{spec_text}: its image processor makes {probe.shape[-2]}x{probe.shape[-1]} inputs but the model "
            f"takes {wanted[0]}x{wanted[1]}."
        )
    normalise = bool(getattr(processor, "do_normalize", True))
    crop_pct, crop_mode = _hf_crop(processor, wanted[0])
    return Preprocessing(
        input_size=wanted,
        mean=tuple(float(v) for v in _three(processor.image_mean)) if normalise else (0.0, 0.0, 0.0),
        std=tuple(float(v) for v in _three(processor.image_std)) if normalise else (1.0, 1.0, 1.0),
        interpolation=_RESAMPLE_NAMES.get(int(getattr(processor, "resample", 2)), "bilinear"),
        crop_pct=crop_pct,
        crop_mode=crop_mode,
        processor=processor,
    )


def _image_processor(folder: Path, model_config: Any, spec_text: str) -> Any:
    from transformers import AutoImageProcessor, ViTImageProcessor

    if not (folder / "preprocessor_config.json").is_file():
        size = model_config.image_size
        height, width = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
        return ViTImageProcessor(size={"height": height, "width": width})
    try:
        return AutoImageProcessor.from_pretrained(str(folder), local_files_only=True)
    except Exception as err:
        raise ModelSpecError(
            f"{spec_text}: the image processor config in {folder} cannot be loaded ({one_line(err)})."
        ) from None


def _hf_crop(processor: Any, crop_height: int) -> tuple[float, str]:
    """Describe the processor's resize and crop in timm's terms (for the model facts; it runs itself)."""
    size = {k: v for k, v in dict(processor.size or {}).items() if v is not None}
    if size.get("shortest_edge"):
        pct = getattr(processor, "crop_pct", None) or crop_height / float(size["shortest_edge"])
        return min(1.0, float(pct)), "center"
    if getattr(processor, "do_center_crop", False) and size.get("height"):
        return min(1.0, crop_height / float(size["height"])), "squash"
    return 1.0, "squash"


def _three(values: Any) -> list[float]:
    values = [values] if isinstance(values, int | float) else list(values)
    return values * 3 if len(values) == 1 else values


def _build_network(folder: Path, spec: ModelSpec) -> Any:
    # transformers takes seconds to import: only specs that need it pay for it.
    from transformers import ViTConfig, ViTForImageClassification

    from vitdemo.models.timm_models import seeded_init

    try:
        if spec.random:
            config = ViTConfig.from_pretrained(str(folder), local_files_only=True)
            with seeded_init():
                return ViTForImageClassification._from_config(config, attn_implementation="eager")
        network, info = ViTForImageClassification.from_pretrained(
            str(folder), attn_implementation="eager", local_files_only=True, output_loading_info=True
        )
    except ModelSpecError:
        raise
    except Exception as err:
        raise ModelSpecError(
            f"{spec.text}: the model in {folder} cannot be loaded ({one_line(err)})."
        ) from None
    missing = info.get("missing_keys") or []
    if missing:
        # A silently re-initialised head would predict garbage with confidence: refuse instead.
        raise ModelSpecError(
            f"{spec.text}: its weights lack {len(missing)} tensors (e.g. {sorted(missing)[0]}), so it is not a "
            "complete image classifier."
        )
    return network


def _read_json(path: Path, spec_text: str) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ModelSpecError(
            f"{spec_text}: {path} is not a readable model config ({one_line(err)})."
        ) from None
    if not isinstance(data, dict):
        raise ModelSpecError(f"{spec_text}: {path} is not a model config.")
    return data
