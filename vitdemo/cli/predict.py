"""`python -m vitdemo predict IMAGE... [--model SPEC] [--top-k 3] [--json]`.

Text output is a table per image; `--json` prints one JSON list with an object per input, in order:
`{"image", "model", "top_k": [{"label", "index", "prob"}, ...]}` or `{"image", "error"}`.
Exit status 0 when every image was predicted, 1 when any input was bad, 2 for usage errors.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from vitdemo.cli.common import EXIT_BAD_INPUT, EXIT_OK, positive_int
from vitdemo.models.specs import SPEC_HELP

DEFAULT_MODEL = "vit"
STDIN_NAME = "-"
LABEL_WIDTH = 48


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="top-k classes of image files",
        description="Print the most probable classes of each image. Bad files are reported and skipped.",
    )
    parser.add_argument(
        "images", nargs="+", metavar="IMAGE", help="image files; '-' reads one image from stdin"
    )
    parser.add_argument(
        "--model", "-m", default=DEFAULT_MODEL, metavar="SPEC", help=f"{SPEC_HELP} (default: {DEFAULT_MODEL})"
    )
    parser.add_argument(
        "--top-k", "-k", type=positive_int, default=3, metavar="K", help="classes per image (default 3)"
    )
    parser.add_argument("--json", action="store_true", help="print a JSON list, one object per image")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # before transformers/hub read it
    from vitdemo.data.images import load_images
    from vitdemo.models import load_model, predict
    from vitdemo.models.specs import parse_spec

    parse_spec(args.model)  # a mistyped spec is a usage error, reported before any file is read
    sources, names = _sources(args.images)
    batch = load_images(sources, names=names)
    scores_by_name: dict[int, list[Any]] = {}
    model = None
    if batch.images:
        model = load_model(args.model, device=args.device)
        good = [i for i, item in enumerate(batch.items) if item.ok]
        predictions = predict(model, [batch.items[i].image for i in good], top_k=args.top_k)
        scores_by_name = dict(zip(good, predictions, strict=True))
    if args.json:
        print(json.dumps(_json_rows(batch.items, scores_by_name, args.model), indent=2))
    else:
        _print_table(batch.items, scores_by_name, model)
    return EXIT_OK if not batch.errors else EXIT_BAD_INPUT


def _sources(arguments: list[str]) -> tuple[list[Any], list[str]]:
    sources: list[Any] = []
    for argument in arguments:
        sources.append(sys.stdin.buffer.read() if argument == STDIN_NAME else argument)
    names = ["<stdin>" if a == STDIN_NAME else a for a in arguments]
    return sources, names


def _json_rows(items: list[Any], scores: dict[int, list[Any]], spec: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        if item.error is not None:
            rows.append({"image": item.name, "error": item.error.reason})
            continue
        top_k = [{"label": s.label, "index": s.index, "prob": round(s.prob, 6)} for s in scores[i]]
        rows.append({"image": item.name, "model": spec, "top_k": top_k})
    return rows


def _print_table(items: list[Any], scores: dict[int, list[Any]], model: Any) -> None:
    if model is not None:
        print(f"model: {model.spec} ({model.source})\n")
    for i, item in enumerate(items):
        if item.error is not None:
            print(f"vitdemo predict: {item.error}", file=sys.stderr)
            continue
        print(item.name)
        for rank, score in enumerate(scores[i], start=1):
            print(f"  {rank:>2}  {_fit(score.label):<{LABEL_WIDTH}}  {_percent(score.prob):>6}")
        print()


def _fit(label: str) -> str:
    return label if len(label) <= LABEL_WIDTH else label[: LABEL_WIDTH - 1] + "…"


def _percent(prob: float) -> str:
    return "<0.1%" if prob < 0.001 else f"{prob * 100:.1f}%"
