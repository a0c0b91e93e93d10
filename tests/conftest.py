"""Shared test setup: no network, a private Hugging Face cache, tiny models.

The environment is set at import time, before any test module imports huggingface_hub,
transformers or timm (they read these variables once, on import):
  * HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE: nothing may touch the network;
  * HF_HOME / HF_HUB_CACHE / TORCH_HOME point at a throwaway directory, so a developer's real
    cache can neither help nor break a test ("not cached" really means not cached).

Fixtures for everyone:
  * `hub_cache`: an empty HF hub cache for one test, with helpers to put files, timm models and
    transformers models into it exactly as a download would (refs, snapshots, blobs);
  * `tiny_vit_dir` / `tiny_resnet_dir`: small untrained models saved in our model-directory format
    (3 classes: circle, square, triangle), quick to load anywhere.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

_TEST_HOME = tempfile.mkdtemp(prefix="vitdemo-tests-")
atexit.register(shutil.rmtree, _TEST_HOME, ignore_errors=True)
os.environ.update(
    {
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HOME": os.path.join(_TEST_HOME, "hf"),
        "HF_HUB_CACHE": os.path.join(_TEST_HOME, "hf", "hub"),
        "TORCH_HOME": os.path.join(_TEST_HOME, "torch"),
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    }
)
if "huggingface_hub" in sys.modules:  # imported by a plugin before us: make its constants agree
    from huggingface_hub import constants as _hub_constants

    _hub_constants.HF_HUB_OFFLINE = True
    _hub_constants.HF_HUB_CACHE = os.environ["HF_HUB_CACHE"]

import pytest  # noqa: E402

TINY_LABELS = ["circle", "square", "triangle"]
TINY_PREPROCESSING = {
    "input_size": [64, 64],
    "mean": [0.5, 0.5, 0.5],
    "std": [0.5, 0.5, 0.5],
    "interpolation": "bicubic",
    "crop_pct": 1.0,
    "crop_mode": "squash",
}


class HubCache:
    """A Hugging Face hub cache on disk, filled the way `hf_hub_download` fills it."""

    def __init__(self, root: Path):
        self.root = root

    def add_file(self, repo_id: str, filename: str, content: bytes | Path) -> Path:
        """Put one file of `repo_id` (main branch) into the cache; returns its snapshot path."""
        data = content.read_bytes() if isinstance(content, Path) else content
        repo_dir = self.root / f"models--{repo_id.replace('/', '--')}"
        commit = hashlib.sha1(repo_id.encode()).hexdigest()
        blob = repo_dir / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        (repo_dir / "refs").mkdir(parents=True, exist_ok=True)
        (repo_dir / "refs" / "main").write_text(commit)
        link = repo_dir / "snapshots" / commit / filename
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(os.path.relpath(blob, link.parent))
        return link

    def add_folder(self, repo_id: str, folder: Path) -> None:
        """Put every file of a local folder (e.g. a save_pretrained output) into the cache."""
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                self.add_file(repo_id, path.relative_to(folder).as_posix(), path)

    def add_timm_model(self, name: str, network, tmp_dir: Path) -> str:
        """Cache `network` as the timm hub repository of `name` ("arch.tag"); returns the repo id."""
        from timm.models import get_pretrained_cfg
        from timm.models._hub import save_for_hf

        repo_id = get_pretrained_cfg(name).hf_hub_id
        export = tmp_dir / repo_id.replace("/", "--")
        save_for_hf(network, str(export), safe_serialization=True)
        self.add_folder(repo_id, export)
        return repo_id


@pytest.fixture
def hub_cache(tmp_path, monkeypatch) -> HubCache:
    """An empty, private HF hub cache for this test (huggingface_hub reads the path at call time)."""
    from huggingface_hub import constants

    root = tmp_path / "hub-cache"
    root.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(root))
    monkeypatch.setenv("HF_HUB_CACHE", str(root))
    return HubCache(root)


def _save_tiny(path: Path, timm_name: str, model_kwargs: dict, family: str) -> Path:
    import timm
    import torch

    from vitdemo.models.model_dir import save_model_dir

    torch.manual_seed(
        12345
    )  # not vitdemo's seed for @random, so "@random" visibly differs from these weights
    network = timm.create_model(timm_name, pretrained=False, num_classes=len(TINY_LABELS), **model_kwargs)
    card = {
        "timm_name": timm_name,
        "model_kwargs": model_kwargs,
        "labels": TINY_LABELS,
        "preprocessing": TINY_PREPROCESSING,
        "family": family,
        "description": f"tiny untrained {family} for tests",
    }
    return save_model_dir(path, network, card)


@pytest.fixture(scope="session")
def tiny_vit_dir(tmp_path_factory) -> Path:
    """A 2-block ViT (64×64 input, 16-px patches → 4×4 grid, 1 class token) in our model-directory format."""
    kwargs = {"img_size": 64, "patch_size": 16, "embed_dim": 48, "depth": 2, "num_heads": 3}
    return _save_tiny(tmp_path_factory.mktemp("tiny-vit"), "vit_tiny_patch16_224", kwargs, "vit")


@pytest.fixture(scope="session")
def tiny_resnet_dir(tmp_path_factory) -> Path:
    """A ResNet-10 (timm resnet10t) in our model-directory format, 64×64 input."""
    return _save_tiny(tmp_path_factory.mktemp("tiny-resnet"), "resnet10t", {}, "cnn")
