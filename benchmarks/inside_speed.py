"""Benchmark: every "Inside the ViT" computation on a ViT-B/16 (`vit@random`, offline), from cached results.

The issue's goal: each computation the page repeats from cached attentions (distance, entropy, a
logit-lens readout of cached block outputs, token norms) and the first-layer filters take ≤ 1 s on
this CPU. The model passes they start from (explain, block outputs) are timed separately, and one
cascading-randomisation step and one random-map baseline are reported for scale.

Usage:
  python benchmarks/inside_speed.py [--threads 2] [--repeats 3]
Prints one JSON line: seconds per computation (best of the repeats) and whether all are ≤ 1 s.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
from PIL import Image

import vitdemo
from vitdemo.data.shapes import render_shape
from vitdemo.explain import analyses

BUDGET_S = 1.0


def best_of(repeats: int, work) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return round(min(times), 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = vitdemo.load_model("vit@random")
    image = Image.fromarray(render_shape(1, 3).image)
    geometry = model.geometry

    start = time.perf_counter()
    result = vitdemo.explain(model, image, methods=["cls"])
    passes = {"explain_s": round(time.perf_counter() - start, 3)}
    x = model.preprocessing.normalise(result.view)[None]
    start = time.perf_counter()
    blocks = analyses.block_outputs(model, x)
    passes["block_outputs_s"] = round(time.perf_counter() - start, 3)

    cached = {
        "attention_distance_s": best_of(
            args.repeats, lambda: analyses.mean_attention_distance(result.attentions, geometry)
        ),
        "attention_entropy_s": best_of(
            args.repeats, lambda: analyses.attention_entropy(result.attentions, geometry)
        ),
        "patch_embedding_filters_s": best_of(args.repeats, lambda: analyses.first_layer_filters(model)),
        "logit_lens_readout_s": best_of(args.repeats, lambda: analyses.logit_lens(model, blocks.tokens)),
        "token_norms_s": best_of(args.repeats, lambda: analyses.token_norms(blocks.tokens, geometry)),
    }
    start = time.perf_counter()
    copy_model = analyses.randomised_copy(model)
    stage = analyses.cascade_stages(model, copy_model.network)[1]
    analyses.reinitialise(stage, seed=1)
    vitdemo.explain(copy_model, image, methods=["gradcam", "relevance"])
    passes["one_sanity_step_s"] = round(time.perf_counter() - start, 3)
    start = time.perf_counter()
    analyses.random_map_baseline(
        model, result.view, geometry.grid_size, result.target.index, seeds=3, steps=8
    )
    passes["random_baseline_3_seeds_s"] = round(time.perf_counter() - start, 3)
    print(
        json.dumps(
            {
                "benchmark": "inside_speed",
                "model": "vit@random (ViT-B/16, 224 px)",
                "threads": args.threads,
                "from_cache": cached,
                "all_from_cache_within_1s": all(v <= BUDGET_S for v in cached.values()),
                "model_passes": passes,
            }
        )
    )


if __name__ == "__main__":
    main()
