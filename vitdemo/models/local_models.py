"""Models on local disk: our model directories (bundled demos, fine-tuning runs) and other folders."""

from __future__ import annotations

import json
from pathlib import Path

from vitdemo.errors import ModelNotAvailableError, ModelSpecError
from vitdemo.models import catalog
from vitdemo.models.loaded import LoadedModel, Preprocessing
from vitdemo.models.model_dir import CARD_NAME, build_network, is_model_dir, load_model_dir_network, read_card
from vitdemo.models.specs import ModelSpec
from vitdemo.models.timm_models import finish_timm_model, load_timm_export_dir, seeded_init, timm_family


def load_bundled(spec: ModelSpec) -> LoadedModel:
    """`demo-vit` / `demo-resnet`: the models shipped inside the package, trained on Shapes."""
    path = catalog.bundled_root() / spec.name
    if not is_model_dir(path):
        raise ModelNotAvailableError(
            f"The bundled model {spec.name} is missing from this installation (expected at {path}); "
            "reinstall vitdemo, or use another model (`python -m vitdemo models` lists them)."
        )
    return load_vitdemo_dir(
        path, spec, source=catalog.BUNDLED_DESCRIPTIONS.get(spec.name, "bundled demo model")
    )


def load_directory(spec: ModelSpec) -> LoadedModel:
    """A directory given as a path: ours (vitdemo.json), a save_pretrained folder, or a timm export."""
    path = Path(spec.name)
    if not path.exists():
        hint = f" For a Hugging Face repository write hf:{spec.name}." if spec.name.count("/") == 1 else ""
        raise ModelSpecError(f"{spec.text}: there is no such model directory.{hint}")
    if not path.is_dir():
        raise ModelSpecError(
            f"{spec.text} is a file; a model is given as its directory (holding {CARD_NAME})."
        )
    if is_model_dir(path):
        return load_vitdemo_dir(path, spec, source=f"model directory {path}")
    config_path = path / "config.json"
    if config_path.is_file():
        try:
            config = json.loads(config_path.read_text())
        except (OSError, json.JSONDecodeError):
            config = {}
        if isinstance(config, dict) and "architecture" in config:
            return load_timm_export_dir(path, spec, config)
        if isinstance(config, dict) and "model_type" in config:
            from vitdemo.models.hf_models import load_hf_folder

            return load_hf_folder(path, spec)
    raise ModelSpecError(
        f"{spec.text} is not a model directory: expected {CARD_NAME} + model.safetensors (vitdemo), or "
        "config.json + weights (save_pretrained / timm)."
    )


def load_vitdemo_dir(path: Path, spec: ModelSpec, *, source: str) -> LoadedModel:
    """One of our model directories: architecture from its card, safetensors weights, card metadata."""
    card = read_card(path)
    timm_family(str(card["timm_name"]))  # refuse an unsupported architecture before building it
    if spec.random:
        with seeded_init():
            network = build_network(card)
        source = f"{source}, untrained (random) weights"
    else:
        network = load_model_dir_network(path, card)
    model = finish_timm_model(
        spec.text,
        network,
        source=source,
        card=card,
        preprocessing=Preprocessing.from_dict(card["preprocessing"]),
        labels=[str(label) for label in card["labels"]],
    )
    if model.family != card["family"]:
        raise ModelSpecError(
            f"{path}: its card says family '{card['family']}' but the network is a {model.family}."
        )
    return model
