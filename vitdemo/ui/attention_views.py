"""Moved to `vitdemo.explain.attention_views` (pure tensor code). This shim keeps older imports
working while parallel branches merge; remove it once nothing imports `vitdemo.ui.attention_views`."""

from vitdemo.explain.attention_views import Query, query_map, query_rollout, query_tiles

__all__ = ["Query", "query_map", "query_rollout", "query_tiles"]
