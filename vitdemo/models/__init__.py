"""The model zoo: resolve a spec to a ready model with preprocessing, labels and geometry.

    from vitdemo.models import load_model, predict
    model = load_model("demo-vit")  # or "vit", "timm:deit_tiny_patch16_224", "hf:google/vit-base-patch16-224"
    predict(model, [image], top_k=3)

Names are imported on first use (PEP 562): `import vitdemo.models.loaded` or the CLI's `--help`
must not pay for importing timm and huggingface_hub.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vitdemo.models.catalog import ModelInfo, available_offline, list_models
    from vitdemo.models.loaded import LoadedModel, Preprocessing, VitGeometry
    from vitdemo.models.prediction import ClassScore, predict
    from vitdemo.models.specs import BUNDLED_SPECS, DEFAULT_TIMM_MODELS, RANDOM_SUFFIX, ModelSpec, parse_spec
    from vitdemo.models.zoo import fetch_model, load_model, resolve_device

_EXPORTS = {
    "BUNDLED_SPECS": "vitdemo.models.specs",
    "DEFAULT_TIMM_MODELS": "vitdemo.models.specs",
    "RANDOM_SUFFIX": "vitdemo.models.specs",
    "ClassScore": "vitdemo.models.prediction",
    "LoadedModel": "vitdemo.models.loaded",
    "ModelInfo": "vitdemo.models.catalog",
    "ModelSpec": "vitdemo.models.specs",
    "Preprocessing": "vitdemo.models.loaded",
    "VitGeometry": "vitdemo.models.loaded",
    "available_offline": "vitdemo.models.catalog",
    "fetch_model": "vitdemo.models.zoo",
    "list_models": "vitdemo.models.catalog",
    "load_model": "vitdemo.models.zoo",
    "parse_spec": "vitdemo.models.specs",
    "predict": "vitdemo.models.prediction",
    "resolve_device": "vitdemo.models.zoo",
}
__all__ = [  # a literal list, so linters see the lazy re-exports
    "BUNDLED_SPECS",
    "DEFAULT_TIMM_MODELS",
    "RANDOM_SUFFIX",
    "ClassScore",
    "LoadedModel",
    "ModelInfo",
    "ModelSpec",
    "Preprocessing",
    "VitGeometry",
    "available_offline",
    "fetch_model",
    "list_models",
    "load_model",
    "parse_spec",
    "predict",
    "resolve_device",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
