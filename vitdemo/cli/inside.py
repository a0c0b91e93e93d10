"""`python -m vitdemo inside IMAGE [--model SPEC] [--out DIR] [--sanity-checks] [--json]`.

The "Inside the ViT" analyses of one image, as PNG plots and numbers. Writes into DIR (default
`inside-<image name>`):
  attention-distance.png   mean attention distance per layer and head (ViTs)
  attention-entropy.png    attention entropy per layer and head (ViTs)
  filters.png              principal components of the patch embedding, or the first conv's filters
  logit-lens.png           each layer through the model's final norm and head (ViTs)
  token-norms.png          patch-token norms, last layer's map and per-layer profile (ViTs)
  sanity-checks.png        with --sanity-checks: cascading randomisation, Spearman and SSIM per step
  inside.json              every number behind the plots, plus timings
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from vitdemo.cli.common import UsageError
from vitdemo.models.specs import SPEC_HELP

DEFAULT_MODEL = "vit"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "inside",
        help="inside the ViT: attention distance, entropy, filters, logit lens, token norms (PNG + JSON)",
        description="The ViT paper's analyses and a logit lens for one image; optional sanity checks.",
    )
    parser.add_argument("image", metavar="IMAGE", help="an image file")
    parser.add_argument(
        "--model", "-m", default=DEFAULT_MODEL, metavar="SPEC", help=f"{SPEC_HELP} (default: {DEFAULT_MODEL})"
    )
    parser.add_argument(
        "--out", "-o", default=None, metavar="DIR", help="output folder (default: inside-IMAGE)"
    )
    parser.add_argument(
        "--sanity-checks",
        action="store_true",
        help="also run cascading randomisation (Adebayo et al. 2018) for every fast map method",
    )
    parser.add_argument("--json", action="store_true", help="print inside.json instead of a text summary")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from vitdemo.data.images import load_image
    from vitdemo.models import load_model
    from vitdemo.models.specs import parse_spec

    parse_spec(args.model)
    image = load_image(args.image)
    model = load_model(args.model, device=args.device)
    out = Path(args.out) if args.out else Path(f"inside-{Path(args.image).stem}")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"cannot create the output folder {out} ({err.strerror})") from None
    report: dict[str, Any] = {"image": args.image, "model": model.spec, "family": model.family, "timings": {}}
    files = _write_filters(out, model, report)
    if model.family == "vit":
        files += _write_vit_analyses(out, model, image, report)
    else:
        report["not_applicable"] = "attention distance, entropy, logit lens and token norms need a ViT"
    if args.sanity_checks:
        files += _write_sanity_checks(out, model, image, report)
    report["files"] = [*files, "inside.json"]
    (out / "inside.json").write_text(json.dumps(report, indent=2))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_summary(report, out)
    return 0


def _write_filters(out: Path, model: Any, report: dict[str, Any]) -> list[str]:
    from vitdemo.cli.inside_plots import image_png
    from vitdemo.explain.analyses import first_layer_filters
    from vitdemo.ui.inside_figures import filter_mosaic

    filters = first_layer_filters(model)
    image_png(out / "filters.png", filter_mosaic(filters.filters))
    report["filters"] = {
        "kind": filters.kind,
        "layer": filters.layer,
        "count": int(filters.filters.shape[0]),
        "kernel": list(filters.filters.shape[1:3]),
        "explained_variance": None
        if filters.explained is None
        else [round(float(v), 4) for v in filters.explained],
    }
    return ["filters.png"]


def _write_vit_analyses(out: Path, model: Any, image: Any, report: dict[str, Any]) -> list[str]:
    from vitdemo.cli import inside_plots as plots
    from vitdemo.explain import analyses, explain
    from vitdemo.ui.inside_figures import lens_classes
    from vitdemo.ui.inside_texts import prefix_names

    geometry = model.geometry
    result = explain(model, image, methods=["cls"])
    clock = time.perf_counter()
    distance = analyses.mean_attention_distance(result.attentions, geometry).numpy()
    entropy = analyses.attention_entropy(result.attentions, geometry).numpy()
    report["timings"]["distance_and_entropy_s"] = round(time.perf_counter() - clock, 4)
    clock = time.perf_counter()
    blocks = analyses.block_outputs(model, model.preprocessing.normalise(result.view)[None])
    lens = analyses.logit_lens(model, blocks.tokens)
    norms = analyses.token_norms(blocks.tokens, geometry)
    report["timings"]["lens_and_norms_s"] = round(time.perf_counter() - clock, 4)
    uniform, most = analyses.uniform_attention_distance(geometry), analyses.max_attention_entropy(geometry)
    probs = lens.softmax(dim=-1).numpy()
    final = int(probs[-1].argmax())
    report.update(
        geometry={
            "grid_size": list(geometry.grid_size),
            "patch_size": list(geometry.patch_size),
            "num_prefix_tokens": geometry.num_prefix_tokens,
        },
        attention_distance_px=_rounded(distance),
        uniform_attention_distance_px=round(uniform, 3),
        attention_entropy_nats=_rounded(entropy),
        uniform_attention_entropy_nats=round(most, 4),
        logit_lens={
            "labels": list(model.labels) if len(model.labels) <= 50 else None,
            "final_class": model.labels[final],
            "ranks_first_from_layer": _one_based(analyses.first_layer_ranking_first(lens, final)),
            "top_class_per_layer": [model.labels[int(i)] for i in probs.argmax(axis=1)],
            "final_class_probability_per_layer": [round(float(p), 4) for p in probs[:, final]],
        },
        token_norms={
            "median_patch_per_layer": _rounded(norms.patches.flatten(1).median(dim=1).values.numpy()),
            "max_patch_per_layer": _rounded(norms.patches.flatten(1).max(dim=1).values.numpy()),
            "prefix_per_layer": _rounded(norms.prefix.numpy()),
            "outlier_share_last_layer": round(norms.outlier_share(-1), 4),
        },
    )
    title = f"{model.spec}: mean attention distance"
    plots.per_head_png(
        out / "attention-distance.png", distance, y_label="pixels", reference=uniform, title=title
    )
    title = f"{model.spec}: attention entropy"
    plots.per_head_png(out / "attention-entropy.png", entropy, y_label="nats", reference=most, title=title)
    plots.logit_lens_png(out / "logit-lens.png", probs, lens_classes(probs), model.labels)
    plots.token_norms_png(
        out / "token-norms.png", norms.patches.numpy(), norms.prefix.numpy(), prefix_names(geometry)
    )
    return ["attention-distance.png", "attention-entropy.png", "logit-lens.png", "token-norms.png"]


def _write_sanity_checks(out: Path, model: Any, image: Any, report: dict[str, Any]) -> list[str]:
    from vitdemo.cli.inside_plots import sanity_png
    from vitdemo.explain.analyses import applicable_methods, cascading_randomisation

    methods = [m for m in applicable_methods(model) if m != "scorecam"]  # Score-CAM: one pass per channel
    clock = time.perf_counter()
    check = cascading_randomisation(model, image, methods)
    report["timings"]["sanity_checks_s"] = round(time.perf_counter() - clock, 3)
    report["sanity_checks"] = {
        "steps": check.steps,
        "spearman": {name: _rounded(values) for name, values in check.spearman.items()},
        "ssim": {name: _rounded(values) for name, values in check.ssim.items()},
        "passes": {name: check.passes(name) for name in check.spearman},
        "verdicts": {name: check.verdict(name) for name in check.spearman},
    }
    sanity_png(out / "sanity-checks.png", check.steps, check.spearman, check.ssim)
    return ["sanity-checks.png"]


def _rounded(values: Any) -> Any:
    import numpy as np

    return np.round(np.asarray(values, dtype=np.float64), 4).tolist()


def _one_based(layer: int | None) -> int | None:
    return None if layer is None else layer + 1


def _print_summary(report: dict[str, Any], out: Path) -> None:
    print(f"model: {report['model']}   image: {report['image']}")
    filters = report["filters"]
    print(f"first layer: {filters['count']} {filters['kind']} of {filters['layer']}")
    if "logit_lens" in report:
        distance = report["attention_distance_px"]
        print(
            f"mean attention distance: layer 1 {min(distance[0]):.0f}-{max(distance[0]):.0f} px, "
            f"last layer {min(distance[-1]):.0f}-{max(distance[-1]):.0f} px "
            f"(uniform {report['uniform_attention_distance_px']:.0f} px)"
        )
        lens = report["logit_lens"]
        print(f"logit lens: {lens['final_class']} ranks first from layer {lens['ranks_first_from_layer']} on")
    else:
        print(f"not applicable: {report['not_applicable']}")
    for verdict in report.get("sanity_checks", {}).get("verdicts", {}).values():
        print(f"  {verdict}")
    print(f"{len(report['files'])} files written to {out}/")
