"""Token norms per layer: how large each token of the residual stream is.

Large pretrained ViTs park global information in a few low-information background patches whose
norm grows far above the rest (Darcet et al. 2023, "Vision Transformers Need Registers"); on a
norm map they are the bright outliers. Register models (`timm:vit_*_reg4*`) move that job to
their register tokens, so their patch maps stay even and the prefix norms carry the peaks.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vitdemo.explain.token_grid import patch_scores_to_grid
from vitdemo.models.loaded import VitGeometry


@dataclass(frozen=True)
class TokenNorms:
    """L2 norms of the residual stream's tokens after every block.

    Attributes:
        patches: float32 (layers, grid_rows, grid_cols), one map per layer.
        prefix: float32 (layers, prefix_tokens): class / distillation / register tokens.
    """

    patches: torch.Tensor
    prefix: torch.Tensor

    def outlier_share(self, layer: int, factor: float = 2.0) -> float:
        """Share of patches in `layer` whose norm exceeds `factor` × the layer's median patch norm."""
        norms = self.patches[layer].flatten()
        return float((norms > factor * norms.median()).float().mean())


def token_norms(tokens: torch.Tensor, geometry: VitGeometry) -> TokenNorms:
    """Norms of every token after every block.

    Args:
        tokens: (layers, tokens, dim) from `vitdemo.explain.analyses.block_outputs`.
        geometry: the model's token layout.
    """
    norms = tokens.float().norm(dim=-1)  # (layers, tokens)
    prefix = norms[:, : geometry.num_prefix_tokens]
    return TokenNorms(patches=patch_scores_to_grid(norms, geometry), prefix=prefix)
