"""Inside the ViT: the ViT paper's own analyses, a logit lens, token norms and sanity checks.

Pure torch/numpy, one file per concept:

    attention_distance       mean attention distance per layer and head (ViT paper, Fig. 7 right)
    attention_entropy        how focused each head is
    patch_embedding_filters  principal components of the patch embedding (Fig. 7 left), or a stem's filters
    logit_lens               every block's tokens through the model's own final norm and head
    token_norms              the residual stream's token norms per layer (high-norm artifacts)
    map_similarity           Spearman rank correlation and SSIM between two maps
    sanity_checks            cascading randomisation of the weights (Adebayo et al. 2018)
    random_baseline          deletion/insertion AUC of random smooth maps: the chance level

Attention distance and entropy work from the attentions an `ExplainResult` already holds; the logit
lens and token norms need one forward pass (`block_outputs`); the sanity checks run `explain` once
per randomisation step on a private copy of the model.
"""

from vitdemo.explain.analyses.attention_distance import (
    mean_attention_distance,
    patch_centre_distances,
    patch_to_patch_attention,
    uniform_attention_distance,
)
from vitdemo.explain.analyses.attention_entropy import attention_entropy, max_attention_entropy
from vitdemo.explain.analyses.logit_lens import (
    BlockOutputs,
    block_outputs,
    first_layer_ranking_first,
    logit_lens,
)
from vitdemo.explain.analyses.map_similarity import rank_correlation, structural_similarity
from vitdemo.explain.analyses.patch_embedding_filters import (
    FirstLayerFilters,
    first_layer_filters,
    principal_filter_components,
)
from vitdemo.explain.analyses.random_baseline import RandomBaseline, random_map_baseline, random_smooth_map
from vitdemo.explain.analyses.sanity_checks import (
    FAIL_CORRELATION,
    CascadeStage,
    SanityCheck,
    applicable_methods,
    cascade_stages,
    cascading_randomisation,
    randomised_copy,
    reinitialise,
)
from vitdemo.explain.analyses.token_norms import TokenNorms, token_norms

__all__ = [
    "FAIL_CORRELATION",
    "BlockOutputs",
    "CascadeStage",
    "FirstLayerFilters",
    "RandomBaseline",
    "SanityCheck",
    "TokenNorms",
    "applicable_methods",
    "attention_entropy",
    "block_outputs",
    "cascade_stages",
    "cascading_randomisation",
    "first_layer_filters",
    "first_layer_ranking_first",
    "logit_lens",
    "max_attention_entropy",
    "mean_attention_distance",
    "patch_centre_distances",
    "patch_to_patch_attention",
    "principal_filter_components",
    "random_map_baseline",
    "random_smooth_map",
    "randomised_copy",
    "rank_correlation",
    "reinitialise",
    "structural_similarity",
    "token_norms",
    "uniform_attention_distance",
]
