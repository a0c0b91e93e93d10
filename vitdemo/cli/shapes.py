"""`python -m vitdemo shapes export DIR --per-class N`: the Shapes dataset as an image-folder tree."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from vitdemo.data.shapes import SHAPE_CLASSES, SPLIT_SEEDS
from vitdemo.errors import VitdemoError


def register(subparsers: argparse._SubParsersAction) -> None:
    shapes = subparsers.add_parser("shapes", help="the procedural Shapes dataset (offline, with masks)")
    actions = shapes.add_subparsers(dest="shapes_command", required=True)
    export = actions.add_parser(
        "export",
        help="write Shapes images as DIR/<class>/*.png (for fine-tuning or your own use)",
        description="Write rendered Shapes images as an image-folder tree: DIR/<class>/<split>_<index>.png.",
    )
    export.add_argument("dir", type=Path, help="output folder (created if missing)")
    export.add_argument("--per-class", type=int, default=50, help="images per class (default 50)")
    export.add_argument(
        "--split", choices=sorted(SPLIT_SEEDS), default="train", help="which split to draw from"
    )
    export.add_argument(
        "--classes",
        default=",".join(SHAPE_CLASSES),
        help="comma-separated subset of: " + ", ".join(SHAPE_CLASSES),
    )
    export.add_argument("--clutter", type=float, default=1.0, help="0 = plain backgrounds … 1 = full clutter")
    export.add_argument("--json", action="store_true", help="print the counts as JSON")
    export.set_defaults(handler=run_export)


def run_export(args: argparse.Namespace) -> int:
    from vitdemo.data.shapes_dataset import export_image_folder

    classes = [c.strip() for c in args.classes.split(",") if c.strip()]
    unknown = [c for c in classes if c not in SHAPE_CLASSES]
    if unknown:
        raise VitdemoError(f"Unknown shape class {unknown[0]!r}; choose from {', '.join(SHAPE_CLASSES)}.")
    if args.per_class < 1:
        raise VitdemoError("--per-class must be at least 1.")
    if not 0.0 <= args.clutter <= 1.0:
        raise VitdemoError("--clutter must be between 0 and 1.")
    try:
        counts = export_image_folder(
            args.dir, args.per_class, split=args.split, classes=classes, clutter=args.clutter
        )
    except OSError as err:
        raise VitdemoError(f"Cannot write to {args.dir}: {err.strerror or err}.") from None
    if args.json:
        print(json.dumps({"dir": str(args.dir), "counts": counts}))
    else:
        print(f"Wrote {sum(counts.values())} images in {len(counts)} class folders under {args.dir}")
    return 0
