"""`python -m vitdemo explain IMAGE [--model SPEC] [--target CLASS] [--cam-layer NAME] [--out DIR] [--json]`.

Writes into DIR (default `explain-<image name>`):
  view.png                 the image exactly as the network saw it (maps align with it)
  map-<name>.png           each map as 8-bit grey, at the view's size
  overlay-<name>.png       each map over the image with a colormap
  attention-grid.png       ViTs: every layer (rows) × every head (columns, then their mean)
  summary.json             top-k, explained class, Grad-CAM layer, each map's peak, timings, faithfulness
Text output summarises the same; `--json` prints summary.json instead.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from vitdemo.cli.common import UsageError, positive_int
from vitdemo.models.specs import SPEC_HELP

DEFAULT_MODEL = "vit"
DEFAULT_FAITHFULNESS_STEPS = 8
METHOD_LIST = "{methods}"  # filled in from the method registry when the help is shown


class MethodListHelp(argparse.HelpFormatter):
    """Lists the method registry's names in `--methods`' help, importing it only when help is shown.

    The registry lives in `vitdemo.explain`, whose import (torch, grad-cam) takes seconds: the
    parser is built for every subcommand, the help is printed rarely.
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = super()._get_help_string(action)
        if text and METHOD_LIST in text:
            from vitdemo.explain.methods import METHODS

            text = text.replace(METHOD_LIST, ", ".join(METHODS.names()))
        return text


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "explain",
        help="attention, rollout, relevance and Grad-CAM maps of one image, as PNG files + JSON",
        description="Explain one image: top-k, attention grid, maps and overlays (PNG), and a JSON summary.",
        formatter_class=MethodListHelp,
    )
    parser.add_argument("image", metavar="IMAGE", help="an image file")
    parser.add_argument(
        "--model", "-m", default=DEFAULT_MODEL, metavar="SPEC", help=f"{SPEC_HELP} (default: {DEFAULT_MODEL})"
    )
    parser.add_argument(
        "--target",
        "-t",
        default=None,
        metavar="CLASS",
        help="class to explain, index or label (default: top-1)",
    )
    parser.add_argument(
        "--out", "-o", default=None, metavar="DIR", help="output folder (default: explain-IMAGE)"
    )
    parser.add_argument("--json", action="store_true", help="print the JSON summary instead of text")
    parser.add_argument(
        "--methods",
        default=None,
        metavar="LIST",
        help=f"comma-separated maps: {METHOD_LIST} (default: all fast ones for the model's family)",
    )
    parser.add_argument("--top-k", "-k", type=positive_int, default=3, metavar="K", help="classes to list")
    parser.add_argument("--layer", type=int, default=-1, help="layer of the class-token map (default: last)")
    parser.add_argument(
        "--head", default="mean", help="head of the class-token map: mean, max, min or a number"
    )
    parser.add_argument(
        "--cam-layer",
        default=None,
        metavar="NAME",
        help="Grad-CAM target layer: a ResNet stage (layer1 … layer4) or a ViT block (block:0 …, "
        "block:-1 = last); default: the last one",
    )
    parser.add_argument("--head-fusion", default="mean", help="rollout's head fusion: mean, max or min")
    parser.add_argument(
        "--discard-ratio",
        type=float,
        default=0.0,
        help="rollout: share of weakest attention dropped per layer",
    )
    parser.add_argument(
        "--mask", default=None, metavar="PATH", help="ground-truth mask image (adds pointing game and energy)"
    )
    parser.add_argument(
        "--faithfulness-steps",
        type=int,
        default=DEFAULT_FAITHFULNESS_STEPS,
        metavar="N",
        help=f"deletion/insertion steps per map; 0 skips them (default {DEFAULT_FAITHFULNESS_STEPS})",
    )
    parser.add_argument(
        "--colormap", default="jet", help="OpenCV colormap of the overlays (jet, turbo, inferno...)"
    )
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # before transformers/hub read it
    import numpy as np

    from vitdemo.data.images import load_image
    from vitdemo.explain import COLORMAPS, align_mask, explain, faithfulness_report
    from vitdemo.models import load_model
    from vitdemo.models.specs import parse_spec

    parse_spec(args.model)  # a mistyped spec is a usage error, reported before any file is read
    if args.colormap not in COLORMAPS:
        raise UsageError(f"unknown colormap '{args.colormap}'; choose from {', '.join(COLORMAPS)}")
    if not 0.0 <= args.discard_ratio < 1.0:
        raise UsageError(f"--discard-ratio must be in [0, 1) (got {args.discard_ratio})")
    image = load_image(args.image)
    mask = load_image(args.mask) if args.mask else None
    model = load_model(args.model, device=args.device)
    result = explain(
        model,
        image,
        target=args.target,
        methods=args.methods.split(",") if args.methods else None,
        top_k=args.top_k,
        cls_layer=args.layer,
        cls_head=int(args.head) if args.head.lstrip("-").isdigit() else args.head,
        head_fusion=args.head_fusion,
        discard_ratio=args.discard_ratio,
        cam_layer=args.cam_layer,
    )
    view_mask = (
        None if mask is None else align_mask(model.preprocessing, np.asarray(mask.convert("L")) >= 128)
    )
    if args.faithfulness_steps > 0 and result.maps:
        faithfulness_report(model, result, mask=view_mask, steps=args.faithfulness_steps)
    out = Path(args.out) if args.out else Path(f"explain-{Path(args.image).stem}")
    files = _write_files(out, model, result, args.colormap)
    summary = {"image": args.image, "model": model.spec, "source": model.source, **result.summary()}
    summary["files"] = files
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        _print_summary(summary, out)
    return 0


def _file_stem(name: str) -> str:
    return name.replace("+", "p")  # gradcam++ → gradcampp: no '+' in file names


def _write_files(out: Path, model: Any, result: Any, colormap: str) -> dict[str, str]:
    import numpy as np
    from PIL import Image

    from vitdemo.explain import attention_grid_image, overlay

    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"cannot create the output folder {out} ({err.strerror})") from None
    files = {"view": "view.png"}
    Image.fromarray(result.view).save(out / "view.png")
    for name, heat in result.maps.items():
        stem = _file_stem(name)
        Image.fromarray(np.uint8(np.clip(heat, 0, 1) * 255 + 0.5)).save(out / f"map-{stem}.png")
        Image.fromarray(overlay(result.view, heat, colormap=colormap)).save(out / f"overlay-{stem}.png")
        files[f"map:{name}"], files[f"overlay:{name}"] = f"map-{stem}.png", f"overlay-{stem}.png"
    if result.attentions is not None:
        grid = attention_grid_image(result.attentions, model.geometry, result.view, colormap=colormap)
        Image.fromarray(grid).save(out / "attention-grid.png")
        files["attention_grid"] = "attention-grid.png"
    files["summary"] = "summary.json"
    return files


def _print_summary(summary: dict[str, Any], out: Path) -> None:
    print(f"model: {summary['model']} ({summary['source']})")
    print(f"image: {summary['image']}\n")
    for rank, score in enumerate(summary["top_k"], start=1):
        print(f"  {rank:>2}  {score['label'][:48]:<48}  {score['prob'] * 100:5.1f}%")
    target = summary["target"]
    print(f"\nexplained class: {target['label']} (index {target['index']}, {target['prob'] * 100:.1f}%)")
    if summary["cam_layer"]:
        print(f"Grad-CAM layer: {summary['cam_layer']}")
    print()
    for name, info in summary["maps"].items():
        peak = info["peak"]
        scores = summary["faithfulness"].get(name, {})
        extra = "  ".join(f"{metric}={value:.3f}" for metric, value in scores.items())
        print(f"  {name:<10} peak at row {peak['row']:>4}, col {peak['col']:>4}   {extra}")
    for name, reason in summary["unavailable"].items():
        print(f"  {name:<10} not available: {reason}")
    print(
        f"\n{len(summary['files'])} files written to {out}/ (explain took {summary['timings']['total']:.2f} s)"
    )
