"""The hybrid ViT's stem: a trained ResNet's first three stages, copied in before its first step."""

from __future__ import annotations

from vitdemo.train.checkpoints import weights_digest
from vitdemo.train.shapes_recipe.token_labels import TokenLabelled


def copy_stem(model: TokenLabelled, spec: str) -> str:
    """Load a trained ResNet's first three stages into the ViT's stem; the source's weights digest.

    The stem is timm's `features_only` ResNet, whose modules keep the ResNet's names, so the
    ResNet's state dict loads key for key (strict: every stem tensor must come from the source).
    """
    from vitdemo.models import load_model

    source = load_model(spec, device="cpu").network
    wanted = model.stem.state_dict().keys()
    model.stem.load_state_dict({k: v for k, v in source.state_dict().items() if k in wanted}, strict=True)
    return weights_digest(source)
