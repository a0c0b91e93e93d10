"""Benchmark: bf16 autocast on the CPU for `explain` — how much faster, and how different are the maps?

Runs `vitdemo.explain` on the same images in float32 and under `torch.autocast("cpu", bfloat16)`
(alternating, so background load hits both alike) and reports the median time of each, the
speed-up, whether the top-1 class agrees, and per map the largest and mean absolute difference
(maps are in [0, 1]) and how often the peak lands in the same patch.

float32 stays the default unless every map stays within `--tolerance` (max absolute difference)
of float32 on every image; the JSON line says whether it did. CPUs with avx512_bf16 / AMX run bf16
matrix products natively; others emulate them and get slower.

Usage:
  python benchmarks/bf16_autocast.py [--model vit@random] [--images 4] [--tolerance 0.05]
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vitdemo.data.shapes import SPLIT_SEEDS, render_shape  # noqa: E402
from vitdemo.explain import explain  # noqa: E402
from vitdemo.models import load_model  # noqa: E402


def cpu_flags() -> list[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = next(
        (line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), []
    )
    return sorted(f for f in flags if "bf16" in f or f.startswith("amx"))


def timed_explain(model, image, bf16: bool):
    start = time.perf_counter()
    if bf16:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            result = explain(model, image)
    else:
        result = explain(model, image)
    return time.perf_counter() - start, result


def peak_patch(heat: np.ndarray, patch: int) -> tuple[int, int]:
    row, col = np.unravel_index(int(np.argmax(heat)), heat.shape)
    return int(row) // patch, int(col) // patch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model", default="vit@random", help="model spec (vit@random: ViT-B/16, no download)"
    )
    parser.add_argument("--images", type=int, default=4, help="timed images (after one warm-up)")
    parser.add_argument("--tolerance", type=float, default=0.05, help="largest map difference still 'equal'")
    args = parser.parse_args()
    model = load_model(args.model, device="cpu")
    patch = model.geometry.patch_size[0] if model.geometry else 32
    images = [render_shape(SPLIT_SEEDS["test"], 900 + i).image for i in range(args.images + 1)]
    times = {"float32": [], "bfloat16": []}
    diffs: dict[str, dict[str, list[float]]] = {}
    top1_agree = 0
    for i, image in enumerate(images):
        order = (False, True) if i % 2 else (True, False)
        runs = {bf16: timed_explain(model, image, bf16) for bf16 in order}
        (t32, r32), (t16, r16) = runs[False], runs[True]
        if i == 0:
            continue  # warm-up: first bf16 calls pick their kernels
        times["float32"].append(t32)
        times["bfloat16"].append(t16)
        top1_agree += r32.top_k[0].index == r16.top_k[0].index
        for name, heat in r32.maps.items():
            other = r16.maps[name]
            d = diffs.setdefault(name, {"max_abs": [], "mean_abs": [], "same_peak_patch": []})
            d["max_abs"].append(float(np.abs(heat - other).max()))
            d["mean_abs"].append(float(np.abs(heat - other).mean()))
            d["same_peak_patch"].append(float(peak_patch(heat, patch) == peak_patch(other, patch)))
    f32, b16 = statistics.median(times["float32"]), statistics.median(times["bfloat16"])
    maps = {
        name: {
            "max_abs": round(max(d["max_abs"]), 4),
            "mean_abs": round(statistics.mean(d["mean_abs"]), 4),
            "same_peak_patch": round(statistics.mean(d["same_peak_patch"]), 2),
        }
        for name, d in diffs.items()
    }
    print(
        json.dumps(
            {
                "benchmark": "bf16_autocast",
                "model": args.model,
                "images": args.images,
                "threads": torch.get_num_threads(),
                "cpu_bf16_flags": cpu_flags(),
                "float32_s": round(f32, 3),
                "bfloat16_s": round(b16, 3),
                "speedup": round(f32 / b16, 2),
                "top1_agree": f"{top1_agree}/{args.images}",
                "maps": maps,
                "tolerance": args.tolerance,
                "maps_equal_within_tolerance": all(m["max_abs"] <= args.tolerance for m in maps.values()),
            }
        )
    )


if __name__ == "__main__":
    main()
