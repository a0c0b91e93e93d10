"""vitdemo: see how Vision Transformers and ResNets see images.

    import vitdemo

    model = vitdemo.load_model("demo-vit")            # or "vit", "resnet", "timm:NAME", "hf:OWNER/REPO", a folder
    image = vitdemo.load_image("photo.jpg")           # validated, upright RGB
    vitdemo.predict(model, [image], top_k=3)          # [[ClassScore(index, label, prob), ...]]

Heavy names (torch, timm) are imported on first use, so `import vitdemo` and `vitdemo --help` stay fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from vitdemo.errors import (
    BadImageError,
    DatasetError,
    ModelNotAvailableError,
    ModelSpecError,
    UnsafeArchiveError,
    VitdemoError,
)

if TYPE_CHECKING:
    from vitdemo import explain
    from vitdemo.data.images import load_image, load_images
    from vitdemo.models import ClassScore, LoadedModel, fetch_model, list_models, load_model, predict

_LAZY_EXPORTS = {
    "load_model": "vitdemo.models",
    "fetch_model": "vitdemo.models",
    "list_models": "vitdemo.models",
    "predict": "vitdemo.models",
    "LoadedModel": "vitdemo.models",
    "load_image": "vitdemo.data.images",
    "load_images": "vitdemo.data.images",
    "ClassScore": "vitdemo.models",
    # `vitdemo.explain` is the subpackage, made callable: vitdemo.explain(model, image, ...) runs
    # vitdemo.explain.explain, and vitdemo.explain.overlay etc. stay reachable (see __getattr__).
    "explain": "vitdemo.explain",
}

__all__ = [
    "BadImageError",
    "ClassScore",
    "DatasetError",
    "LoadedModel",
    "ModelNotAvailableError",
    "ModelSpecError",
    "UnsafeArchiveError",
    "VitdemoError",
    "explain",
    "fetch_model",
    "list_models",
    "load_image",
    "load_images",
    "load_model",
    "predict",
]


def __getattr__(name: str) -> Any:
    if name not in _LAZY_EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(_LAZY_EXPORTS[name])
    value = module if module.__name__ == f"{__name__}.{name}" else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY_EXPORTS})
