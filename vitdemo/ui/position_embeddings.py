"""Moved to `vitdemo.explain.position_embeddings` (pure tensor code). This shim keeps older imports
working while parallel branches merge; remove it once nothing imports `vitdemo.ui.position_embeddings`."""

from vitdemo.explain.position_embeddings import patch_position_embeddings, position_similarity

__all__ = ["patch_position_embeddings", "position_similarity"]
