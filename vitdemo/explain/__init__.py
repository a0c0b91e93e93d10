"""Explanations: attention capture, class-token maps, rollout, relevance, the Grad-CAM family,
faithfulness metrics and overlays — pure torch/numpy, no UI.

`explain(model, image, ...)` is the one call most code needs; the pieces are exported too. The
package itself is callable, so `vitdemo.explain(model, image)` and `vitdemo.explain.overlay(...)`
both work (the documented API names the function after the package; see ARCHITECTURE.md).
"""

import sys
import types

from vitdemo.explain.attention_capture import VitPass, run_vit, transformer_blocks
from vitdemo.explain.attention_grid import attention_grid_image
from vitdemo.explain.cam import library_cam, library_cam_method
from vitdemo.explain.cam_layers import CamLayer, cam_layers, resolve_cam_layer
from vitdemo.explain.cls_map import cls_attention_map, patch_attention_map
from vitdemo.explain.cnn_capture import CnnPass, cnn_stages, run_cnn
from vitdemo.explain.engine import explain
from vitdemo.explain.faithfulness import (
    FaithfulnessCurves,
    align_mask,
    deletion_insertion_curves,
    energy_in_mask,
    faithfulness_report,
    pointing_game,
)
from vitdemo.explain.head_fusion import fuse_heads
from vitdemo.explain.map_inputs import MapInputs, MapUnavailable
from vitdemo.explain.methods import METHODS, MapMethod, MethodRegistry, resolve_methods
from vitdemo.explain.overlay import COLORMAPS, colorize, overlay
from vitdemo.explain.relevance import attention_relevance
from vitdemo.explain.result import ClassScore, ExplainResult
from vitdemo.explain.rollout import attention_rollout, readout_map, rollout_steps
from vitdemo.explain.scaling import scale_to_view
from vitdemo.explain.token_grid import patch_scores_to_grid, readout_weights, vit_reshape_transform

__all__ = [
    "COLORMAPS",
    "METHODS",
    "CamLayer",
    "ClassScore",
    "CnnPass",
    "ExplainResult",
    "FaithfulnessCurves",
    "MapInputs",
    "MapMethod",
    "MapUnavailable",
    "MethodRegistry",
    "VitPass",
    "align_mask",
    "attention_grid_image",
    "attention_relevance",
    "attention_rollout",
    "cam_layers",
    "cls_attention_map",
    "cnn_stages",
    "colorize",
    "deletion_insertion_curves",
    "energy_in_mask",
    "explain",
    "faithfulness_report",
    "fuse_heads",
    "library_cam",
    "library_cam_method",
    "overlay",
    "patch_attention_map",
    "patch_scores_to_grid",
    "pointing_game",
    "readout_map",
    "readout_weights",
    "resolve_cam_layer",
    "resolve_methods",
    "rollout_steps",
    "run_cnn",
    "run_vit",
    "scale_to_view",
    "transformer_blocks",
    "vit_reshape_transform",
]


class _CallablePackage(types.ModuleType):
    """`vitdemo.explain(...)` calls `vitdemo.explain.explain(...)`; attribute access is unchanged."""

    def __call__(self, *args, **kwargs) -> ExplainResult:
        return explain(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
