"""Measurement: how much cascading randomisation changes the gradient maps of a trained and an untrained model.

For demo-vit and demo-vit@random (same architecture, untrained weights), over the 12 Shapes gallery
images: the mean Spearman rank correlation and SSIM of each gradient map with the model's own map,
over the randomisation steps (lower = the map changed more). Adebayo et al. expect a trained model's
maps to change; this shows how an untrained model's maps compare.

Usage:
  python benchmarks/sanity_trained_vs_random.py [--images 12] [--spec demo-vit]
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch

import vitdemo
from vitdemo.data.images import load_image
from vitdemo.explain import analyses
from vitdemo.ui.image_items import shapes_gallery

GRADIENT_MAPS = ("gradcam", "gradcam++", "relevance", "hirescam", "layercam")


def similarity(spec: str, images: list) -> dict[str, float]:
    model = vitdemo.load_model(spec)
    methods = [m for m in GRADIENT_MAPS if m in analyses.applicable_methods(model)]
    rho, ssim = [], []
    for image in images:
        check = analyses.cascading_randomisation(model, image, methods)
        rho.append([check.mean_correlation(m) for m in methods])
        ssim.append([float(np.mean(check.ssim[m][1:])) for m in methods])
    return {
        "mean_spearman": round(float(np.mean(rho)), 4),
        "mean_ssim": round(float(np.mean(ssim)), 4),
        "per_method_spearman": dict(zip(methods, np.round(np.mean(rho, axis=0), 4).tolist(), strict=True)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=12)
    parser.add_argument("--spec", default="demo-vit")
    args = parser.parse_args()
    torch.set_num_threads(1)
    images = [load_image(item.data) for item in shapes_gallery()[: args.images]]
    trained = similarity(args.spec, images)
    untrained = similarity(f"{args.spec}@random", images)
    print(
        json.dumps(
            {
                "benchmark": "sanity_trained_vs_random",
                "images": len(images),
                "trained": trained,
                "untrained": untrained,
            }
        )
    )


if __name__ == "__main__":
    main()
