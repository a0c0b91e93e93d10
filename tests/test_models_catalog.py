"""What `models` lists, and what `fetch` asks the hub for (with the hub replaced by a local fake)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import timm
import torch
from huggingface_hub import constants
from timm.models._hub import save_for_hf

from vitdemo.errors import ModelNotAvailableError, ModelSpecError
from vitdemo.models import available_offline, catalog, fetch_model, hub, list_models, load_model


@pytest.fixture
def bundled(tmp_path, monkeypatch, tiny_vit_dir) -> Path:
    """A bundled root holding demo-vit only (demo-resnet missing)."""
    root = tmp_path / "bundled"
    shutil.copytree(tiny_vit_dir, root / "demo-vit")
    monkeypatch.setattr(catalog, "BUNDLED_ROOT", root)
    return root


def rows_by_spec():
    return {row.spec: row for row in list_models()}


def test_list_shows_bundled_defaults_and_what_needs_a_download(bundled, hub_cache):
    rows = rows_by_spec()
    assert (rows["demo-vit"].status, rows["demo-vit"].offline) == ("bundled", True)
    assert (rows["demo-resnet"].status, rows["demo-resnet"].offline) == ("missing", False)
    assert (rows["vit"].status, rows["resnet"].status) == ("download", "download")
    assert rows["hf:google/vit-base-patch16-224"].status == "download"
    assert list(rows)[:5] == ["demo-vit", "demo-hybrid", "demo-resnet", "vit", "resnet"]


def test_list_shows_cached_models_and_only_usable_ones(bundled, hub_cache):
    hub_cache.add_file("timm/resnet50.a1_in1k", "model.safetensors", b"weights")
    hub_cache.add_file("timm/deit_tiny_distilled_patch16_224.fb_in1k", "model.safetensors", b"weights")
    hub_cache.add_file("timm/convnext_tiny.in12k_ft_in1k", "model.safetensors", b"weights")  # not explainable
    vit_config = b'{"model_type": "vit", "architectures": ["ViTForImageClassification"]}'
    hub_cache.add_file("someone/fake-face-detector", "config.json", vit_config)
    hub_cache.add_file("someone/fake-face-detector", "model.safetensors", b"weights")
    hub_cache.add_file("someone/bert", "config.json", b'{"model_type": "bert"}')
    hub_cache.add_file("someone/bert", "model.safetensors", b"weights")
    rows = rows_by_spec()
    assert rows["resnet"].status == "cached" and rows["vit"].status == "download"
    assert "timm:resnet50.a1_in1k" not in rows  # listed once, under its alias
    assert rows["timm:deit_tiny_distilled_patch16_224.fb_in1k"].status == "cached"
    assert rows["hf:someone/fake-face-detector"].offline
    assert not any("convnext" in spec or "bert" in spec for spec in rows)


def test_available_offline_for_each_kind(bundled, hub_cache, tiny_vit_dir):
    assert available_offline("demo-vit") and not available_offline("demo-resnet")
    assert available_offline(str(tiny_vit_dir))
    assert available_offline("vit@random") and not available_offline("vit")
    hub_cache.add_file("someone/vit", "config.json", b"{}")
    assert available_offline("hf:someone/vit@random") and not available_offline("hf:someone/vit")


# --- fetch, against a fake hub -------------------------------------------------------------------


class FakeHub:
    """Stands in for `hf_hub_download`: serves files from local folders into the real cache layout."""

    def __init__(self, hub_cache, repos: dict[str, Path]):
        self.hub_cache, self.repos, self.calls = hub_cache, repos, []

    def download(self, repo_id, filename, cache_dir=None, **_):
        from httpx2 import Request, Response
        from huggingface_hub.errors import RemoteEntryNotFoundError, RepositoryNotFoundError

        self.calls.append((repo_id, filename))
        response = Response(404, request=Request("GET", f"https://huggingface.co/{repo_id}/{filename}"))
        if repo_id not in self.repos:
            raise RepositoryNotFoundError(f"404 {repo_id}", response=response)
        source = self.repos[repo_id] / filename
        if not source.is_file():
            raise RemoteEntryNotFoundError(f"404 {filename}", response=response)
        return str(self.hub_cache.add_file(repo_id, filename, source))


@pytest.fixture
def online(monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hub, "hub_reachable", lambda: True)


def test_fetch_refuses_while_the_hub_is_switched_off(hub_cache):
    with pytest.raises(ModelNotAvailableError, match="HF_HUB_OFFLINE is set"):
        fetch_model("timm:resnet18.a1_in1k")


def test_fetch_timm_downloads_the_weights_timm_would_load(hub_cache, online, monkeypatch, tmp_path):
    torch.manual_seed(5)
    network = timm.create_model("resnet18.a1_in1k", pretrained=False)
    save_for_hf(network, str(tmp_path / "remote"), safe_serialization=True)
    fake = FakeHub(hub_cache, {"timm/resnet18.a1_in1k": tmp_path / "remote"})
    monkeypatch.setattr(hub, "hf_hub_download", fake.download)
    model = fetch_model("timm:resnet18.a1_in1k")
    assert fake.calls == [("timm/resnet18.a1_in1k", "model.safetensors")]
    assert torch.equal(model.network.fc.weight, network.fc.weight)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # now it must load with the hub switched off
    assert torch.equal(load_model("timm:resnet18.a1_in1k", device="cpu").network.fc.weight, network.fc.weight)
    assert len(fake.calls) == 1


@pytest.mark.slow
def test_fetch_hf_downloads_config_weights_and_preprocessing(hub_cache, online, monkeypatch, tmp_path):
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    config = ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                       intermediate_size=32, num_labels=2)  # fmt: skip
    ViTForImageClassification(config).save_pretrained(tmp_path / "remote")
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(tmp_path / "remote")
    fake = FakeHub(hub_cache, {"someone/vit": tmp_path / "remote"})
    monkeypatch.setattr(hub, "hf_hub_download", fake.download)
    model = fetch_model("hf:someone/vit")
    assert [f for _, f in fake.calls] == ["config.json", "model.safetensors", "preprocessor_config.json"]
    assert model.backend == "hf" and model.preprocessing.input_size == (32, 32)


def test_fetch_reports_a_missing_repository_and_network_failure(hub_cache, online, monkeypatch):
    fake = FakeHub(hub_cache, {})
    monkeypatch.setattr(hub, "hf_hub_download", fake.download)
    with pytest.raises(ModelSpecError, match="no public repository someone/nothing"):
        fetch_model("hf:someone/nothing")

    def broken_network(*args, **kwargs):
        raise ConnectionError("connection reset")

    monkeypatch.setattr(hub, "hf_hub_download", broken_network)
    with pytest.raises(ModelNotAvailableError, match=r"downloading it failed \(ConnectionError\)"):
        fetch_model("timm:resnet18.a1_in1k")


def test_an_unreachable_hub_fails_fast_with_the_fetch_advice(hub_cache, monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hub, "_reachability", {})

    def no_route(*args, **kwargs):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(hub.socket, "create_connection", no_route)
    monkeypatch.setattr(hub, "hf_hub_download", pytest.fail)  # must not even try
    with pytest.raises(
        ModelNotAvailableError,
        match="cannot be reached from here: connect to the internet and run `python -m vitdemo fetch vit`",
    ):
        load_model("vit")
