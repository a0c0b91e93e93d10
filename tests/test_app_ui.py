"""The app's building blocks without a browser: figures, attention views, texts, deployment files."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch

from vitdemo.errors import BadImageError
from vitdemo.explain import explain
from vitdemo.explain.attention_views import Query, query_map, query_rollout, query_tiles
from vitdemo.explain.methods import METHODS
from vitdemo.models import load_model
from vitdemo.models.loaded import VitGeometry
from vitdemo.models.prediction import ClassScore
from vitdemo.ui.figures import ACCENT, attention_grid_figure, tile_mosaic, top_k_bar_chart
from vitdemo.ui.guard import one_line
from vitdemo.ui.texts import method_sentence, method_title

ROOT = Path(__file__).resolve().parents[1]
GEOMETRY = VitGeometry(grid_size=(3, 4), patch_size=(16, 16), num_prefix_tokens=1, has_class_token=True)


def random_attention(layers: int = 2, heads: int = 3, seed: int = 0) -> torch.Tensor:
    tokens = GEOMETRY.num_tokens
    logits = torch.randn(layers, heads, tokens, tokens, generator=torch.Generator().manual_seed(seed))
    return logits.softmax(dim=-1)  # (layers, heads, tokens, tokens)


def test_mosaic_places_tiles_with_nan_gaps_between_them():
    tiles = np.arange(2 * 3 * 2 * 2, dtype=np.float32).reshape(2, 3, 2, 2)
    mosaic = tile_mosaic(tiles)
    assert mosaic.shape == (2 * 3 - 1, 3 * 3 - 1)
    assert np.array_equal(mosaic[3:5, 6:8], tiles[1, 2])
    assert np.isnan(mosaic[2]).all() and np.isnan(mosaic[:, 2]).all()


def test_top_k_chart_puts_the_best_class_on_top_and_highlights_the_explained_one():
    top = [ClassScore(4, "star", 0.7), ClassScore(1, "square", 0.2), ClassScore(0, "circle", 0.1)]
    bars = top_k_bar_chart(top, target_index=1).data[0]
    assert list(bars.y) == ["circle", "square", "star"]  # plotly draws the first bar at the bottom
    assert list(bars.text) == ["10.0%", "20.0%", "70.0%"]
    assert [c == ACCENT for c in bars.marker.color] == [False, True, False]


def test_grid_scaled_colours_fill_each_tile_and_raw_colours_share_one_range():
    tiles = query_tiles(random_attention(), GEOMETRY, Query("cls"))
    scaled = attention_grid_figure(tiles, scaled=True, selected=(1, 2))
    z = np.array(scaled.data[0].z, dtype=float)
    assert np.nanmax(z[:3, :4]) == pytest.approx(1.0) and np.nanmin(z[:3, :4]) == pytest.approx(0.0)
    assert len(scaled.layout.shapes) == 1  # the outline of layer 2, head 3
    raw = attention_grid_figure(tiles, scaled=False)
    assert raw.data[0].zmax == pytest.approx(float(tiles.max()))
    assert list(raw.layout.yaxis.ticktext) == ["layer 1", "layer 2"]
    assert list(raw.layout.xaxis.ticktext) == ["head 1", "head 2", "head 3"]


def test_a_patch_query_reads_that_patch_tokens_row():
    attentions = torch.zeros(1, 1, GEOMETRY.num_tokens, GEOMETRY.num_tokens)
    row, col = 2, 1
    token = GEOMETRY.num_prefix_tokens + row * GEOMETRY.grid_size[1] + col
    attentions[0, 0, token, GEOMETRY.num_prefix_tokens + 0 * 4 + 3] = 1.0  # looks at patch (0, 3)
    grid = query_map(attentions, GEOMETRY, Query("patch", row, col), layer=0, head="mean")
    assert tuple(int(i) for i in np.unravel_index(int(grid.argmax()), tuple(grid.shape))) == (0, 3)
    assert query_tiles(attentions, GEOMETRY, Query("cls")).max() == 0.0  # the class token's row is empty


def test_slider_rollout_from_the_class_token_matches_explains_rollout(tiny_vit_dir):
    model = load_model(str(tiny_vit_dir))
    image = (np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)
    result = explain(model, image, methods=("rollout",), head_fusion="max", discard_ratio=0.3)
    ours = query_rollout(result.attentions, model.geometry, Query("cls"), "max", 0.3)
    assert np.allclose(ours.numpy(), result.raw_maps["rollout"], atol=1e-6)


def test_every_explanation_method_has_a_sentence_for_the_page():
    assert all(method_sentence(name).endswith(".") for name in METHODS.names())
    assert method_title("gradcam++") == "Grad-CAM++"


def test_errors_reach_the_page_as_one_line():
    assert one_line(BadImageError("is empty (0 bytes)", "a.png")) == "a.png: is empty (0 bytes)"
    line = one_line(RuntimeError("first\nsecond"))
    assert "\n" not in line and line.startswith("Something went wrong (RuntimeError: first second)")


def test_streamlit_config_sets_limits_privacy_and_a_theme():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["fileWatcherType"] == "none"
    assert 1 <= config["server"]["maxUploadSize"] <= 200
    assert config["browser"]["gatherUsageStats"] is False
    assert config["client"]["showErrorDetails"] == "none"
    assert re.fullmatch(r"#[0-9a-f]{6}", config["theme"]["primaryColor"])


def test_dockerfile_runs_the_app_as_uid_1000_with_a_health_check():
    text = (ROOT / "Dockerfile").read_text()
    lines = [
        line.strip()
        for line in text.replace("\\\n", " ").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    instructions = [line.split()[0] for line in lines]
    assert instructions[0] == "FROM" and set(instructions) <= {
        "FROM",
        "ARG",
        "ENV",
        "RUN",
        "USER",
        "WORKDIR",
        "COPY",
        "EXPOSE",
        "HEALTHCHECK",
        "CMD",
    }
    assert re.search(r"useradd[^\n]*--uid 1000", text)
    assert lines[instructions.index("USER")] == "USER user"
    assert instructions.index("USER") < instructions.index("CMD")
    assert "-r requirements.txt" in text
    health = lines[instructions.index("HEALTHCHECK")]
    assert "http://localhost:8501/_stcore/health" in health
    cmd = lines[instructions.index("CMD")]
    for word in ('"streamlit", "run", "app.py"', '"--server.address=0.0.0.0"', '"--server.port=8501"'):
        assert word in cmd
    assert "EXPOSE 8501" in lines
