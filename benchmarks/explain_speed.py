"""Benchmark: our explain pipeline against the seed and Hugging Face baselines, on the same images.

What each pipeline produces per image (untrained vit_base_patch16_224 and resnet50, 224×224):
  * ours  — `vitdemo.explain`: ViT top-3 + every attention + CLS map + rollout + gradient relevance
            + Grad-CAM (one forward, one backward), ResNet top-3 + Grad-CAM (one forward, a backward
            through the head only), and an overlay of every map;
  * seed  — ../shared/baselines/seed_explain.py `explain_one` (imported by path, run in this process
            on copies of the same weights): patched eager blocks, then one pytorch-grad-cam call
            (its own forward + backward) per model;
  * hf    — ../shared/baselines/hf_explain.py, run as a subprocess between our rounds (its loop is
            inside its main()); it reports its own seconds per image.

Seed and ours alternate image by image (first one, then the other, swapping who goes first), so
the background load of a shared machine hits both alike; the headline ratio is the median of the
per-image ratios. Peak memory is measured separately, one fresh subprocess per pipeline: peak RSS
while explaining minus RSS once the models are built.

Usage:
  python benchmarks/explain_speed.py [--images 6] [--rounds 2] [--no-hf]
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import timm
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vitdemo.explain import explain, overlay  # noqa: E402
from vitdemo.models.loaded import LoadedModel, Preprocessing, VitGeometry  # noqa: E402

BASELINES = Path(os.environ.get("VITDEMO_BASELINES", ROOT.parent / "shared" / "baselines"))
VIT, RESNET = "vit_base_patch16_224", "resnet50"
VIT_METHODS = ("cls", "rollout", "relevance", "gradcam")
SIZE = 224


def load_seed_module():
    spec = importlib.util.spec_from_file_location("seed_explain", BASELINES / "seed_explain.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_networks() -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(0)
    return (
        timm.create_model(VIT, pretrained=False).eval(),
        timm.create_model(RESNET, pretrained=False).eval(),
    )


def wrap(vit: torch.nn.Module, resnet: torch.nn.Module) -> tuple[LoadedModel, LoadedModel]:
    """Our loaded models, with the seeds' preprocessing ((x/255 − 0.5)/0.5, no resize at 224)."""
    prep = Preprocessing((SIZE, SIZE), (0.5,) * 3, (0.5,) * 3, "bilinear", 1.0, "squash")
    labels = [f"class {i}" for i in range(1000)]
    rows, cols = vit.patch_embed.grid_size
    geometry = VitGeometry((rows, cols), (SIZE // rows, SIZE // cols), vit.num_prefix_tokens, True)
    vit_model = LoadedModel("bench:vit", vit, prep, labels, "vit", "timm", geometry, "random init")
    resnet_model = LoadedModel("bench:resnet", resnet, prep, labels, "cnn", "timm", None, "random init")
    return vit_model, resnet_model


def images(count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)  # the same images the baselines draw
    return [rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8) for _ in range(count)]


def seed_input(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(img).permute(2, 0, 1)[None].float().div(255).sub(0.5).div(0.5)


def ours_one(vit_model: LoadedModel, resnet_model: LoadedModel, img: np.ndarray) -> dict:
    vit_result = explain(vit_model, img, methods=VIT_METHODS, top_k=3)
    resnet_result = explain(resnet_model, img, methods=("gradcam",), top_k=3)
    for result in (vit_result, resnet_result):
        for heat in result.maps.values():
            overlay(result.view, heat)
    return {
        "vit_top3": [s.index for s in vit_result.top_k],
        "resnet_top3": [s.index for s in resnet_result.top_k],
        "timings": {f"vit_{k}": v for k, v in vit_result.timings.items()}
        | {f"resnet_{k}": v for k, v in resnet_result.timings.items()},
    }


def timed(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


def run_hf(count: int) -> float | None:
    script = BASELINES / "hf_explain.py"
    proc = subprocess.run(
        [sys.executable, str(script), "--images", str(count)], capture_output=True, text=True, check=False
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        print(f"hf_explain failed: {proc.stderr.strip()[-500:]}", file=sys.stderr)
        return None
    return float(json.loads(lines[-1])["s_per_image_median"])


def compare(args: argparse.Namespace) -> dict:
    seed = load_seed_module()
    vit, resnet = build_networks()
    seed_vit, seed_resnet = copy.deepcopy(vit), copy.deepcopy(resnet)
    seed.patch_blocks(seed_vit)
    vit_model, resnet_model = wrap(vit, resnet)
    pictures = images(args.images + 1)
    seed_times, our_times, ratios, hf_times, breakdowns = [], [], [], [], []
    agree = True
    per_round = max(1, args.images // args.rounds)
    for i, img in enumerate(pictures):
        x = seed_input(img)
        if i % 2:  # swap who runs first, so drifting load does not favour one side
            our_time, ours = timed(ours_one, vit_model, resnet_model, img)
            seed_time, theirs = timed(seed.explain_one, seed_vit, seed_resnet, x, img)
        else:
            seed_time, theirs = timed(seed.explain_one, seed_vit, seed_resnet, x, img)
            our_time, ours = timed(ours_one, vit_model, resnet_model, img)
        agree &= ours["vit_top3"] == theirs["vit_top3"] and ours["resnet_top3"] == theirs["resnet_top3"]
        if i == 0:
            continue  # warm-up
        seed_times.append(seed_time)
        our_times.append(our_time)
        ratios.append(our_time / seed_time)
        breakdowns.append(ours["timings"])
        if not args.no_hf and i % per_round == 0:
            hf = run_hf(per_round)
            if hf is not None:
                hf_times.append(hf)
    ours_median = statistics.median(our_times)
    out = {
        "seed_s_per_image": round(statistics.median(seed_times), 3),
        "ours_s_per_image": round(ours_median, 3),
        "ours_vs_seed": round(statistics.median(ratios), 3),  # median of the paired per-image ratios
        "ours_vs_seed_total": round(sum(our_times) / sum(seed_times), 3),  # ratio of summed times
        "ours_vs_seed_range": [round(min(ratios), 3), round(max(ratios), 3)],
        "top3_agree_with_seed": agree,
        "ours_stages_s": {
            k: round(statistics.median(b[k] for b in breakdowns), 3)
            for k in breakdowns[0]
            if not k.endswith("preprocess")
        },
    }
    if hf_times:
        hf_median = statistics.median(hf_times)
        out |= {"hf_s_per_image": round(hf_median, 3), "ours_vs_hf": round(ours_median / hf_median, 3)}
    return out


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def memory_probe(pipeline: str) -> dict:
    """Run in a fresh process: peak RSS while explaining 2 images, above RSS after model building."""
    if pipeline == "hf":
        spec = importlib.util.spec_from_file_location("hf_explain", BASELINES / "hf_explain.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.argv = ["hf_explain.py", "--images", "2"]
        before = rss_mb()  # hf_explain builds its models inside main(): count them in
        module.main()
        return {"pipeline": "hf", "peak_rss_mb": round(_peak_mb(), 1), "before_mb": round(before, 1)}
    vit, resnet = build_networks()
    if pipeline == "seed":
        seed = load_seed_module()
        seed.patch_blocks(vit)
        before = rss_mb()
        for img in images(2):
            seed.explain_one(vit, resnet, seed_input(img), img)
    else:
        vit_model, resnet_model = wrap(vit, resnet)
        before = rss_mb()
        for img in images(2):
            ours_one(vit_model, resnet_model, img)
    return {"pipeline": pipeline, "peak_rss_mb": round(_peak_mb(), 1), "before_mb": round(before, 1)}


def _peak_mb() -> float:
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent through fork + exec.
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    raise RuntimeError("no VmHWM in /proc/self/status")


def memory(pipelines: list[str]) -> dict:
    results = {}
    for pipeline in pipelines:
        proc = subprocess.run(
            [sys.executable, __file__, "--memory-probe", pipeline],
            capture_output=True,
            text=True,
            check=False,
        )
        lines = [line for line in proc.stdout.splitlines() if line.startswith('{"pipeline"')]
        if proc.returncode == 0 and lines:
            probe = json.loads(lines[-1])
            results[pipeline] = {
                "peak_rss_mb": probe["peak_rss_mb"],
                "explain_extra_mb": round(probe["peak_rss_mb"] - probe["before_mb"], 1),
            }
            if pipeline == "hf":
                results[pipeline]["extra_includes_model_build"] = True
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=6, help="timed images (after one warm-up)")
    parser.add_argument(
        "--rounds", type=int, default=2, help="hf_explain subprocess runs, spread over the loop"
    )
    parser.add_argument("--no-hf", action="store_true", help="skip the Hugging Face baseline")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    parser.add_argument("--memory-probe", choices=["ours", "seed", "hf"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_probe:
        print(json.dumps(memory_probe(args.memory_probe)))
        return
    result = {
        "benchmark": "explain_speed",
        "vit": VIT,
        "resnet": RESNET,
        "images": args.images,
        "threads": torch.get_num_threads(),
        **compare(args),
    }
    if not args.no_memory:
        result["memory"] = memory(["ours", "seed"] + ([] if args.no_hf else ["hf"]))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
