"""Train the bundled demo models (`demo-vit`, `demo-hybrid`, `demo-resnet`) on the Shapes dataset.

    python -m vitdemo.train.shapes render                 # pre-render the training set once
    python -m vitdemo.train.shapes train --arch resnet    # the recorded stages; resumable
    python -m vitdemo.train.shapes train --arch hybrid    # after the ResNet: its stages are the stem
    python -m vitdemo.train.shapes train --arch vit       # the conv-stem ViT (ResNet as teacher)
    python -m vitdemo.train.shapes evaluate               # measure and write the model cards
    python -m vitdemo.train.shapes all                    # all of the above

The command line of the recipe; the recipe itself (why each piece is there) and its parts are in
`vitdemo.train.shapes_recipe`. The names below are re-exported for scripts and tests.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

from vitdemo.train.shapes_recipe.archs import ARCHS
from vitdemo.train.shapes_recipe.cards import evaluate_bundled, export
from vitdemo.train.shapes_recipe.config import (
    BUNDLED_DIR,
    DEFAULT_WORK_DIR,
    RECIPES,
    TrainConfig,
    recipe_stages,
)
from vitdemo.train.shapes_recipe.loop import train, train_stages
from vitdemo.train.shapes_recipe.rendered_set import FULL, TrainingSet, render_training_set
from vitdemo.train.shapes_recipe.token_labels import TokenLabelled

__all__ = [
    "ARCHS",
    "BUNDLED_DIR",
    "RECIPES",
    "TokenLabelled",
    "TrainConfig",
    "TrainingSet",
    "evaluate_bundled",
    "export",
    "main",
    "recipe_stages",
    "render_training_set",
    "train",
    "train_stages",
]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m vitdemo.train.shapes", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("render", help="pre-render the training set")
    r.add_argument("--work-dir", type=Path, default=DEFAULT_WORK_DIR)
    r.add_argument("--full", type=int, default=FULL, help=f"cluttered images (default {FULL})")
    t = sub.add_parser("train", help="train (or resume) one demo model and export it")
    t.add_argument("--arch", choices=sorted(ARCHS), required=True)
    t.add_argument("--work-dir", type=Path, default=DEFAULT_WORK_DIR)
    t.add_argument("--out-dir", type=Path, default=BUNDLED_DIR, help="where the model directory goes")
    a = sub.add_parser("all", help="render, train the three models (their recipes) and evaluate them")
    a.add_argument("--work-dir", type=Path, default=DEFAULT_WORK_DIR)
    a.add_argument("--n-test", type=int, default=600)
    for name, value in asdict(TrainConfig()).items():
        if name not in ("arch", "extra"):
            t.add_argument("--" + name.replace("_", "-"), type=type(value), default=None)
    e = sub.add_parser("evaluate", help="measure the bundled models and write the figures into their cards")
    e.add_argument("--arch", choices=sorted(ARCHS), action="append", help="default: all of them")
    e.add_argument("--n-test", type=int, default=600)
    args = ap.parse_args(argv)
    if args.cmd == "evaluate":
        for arch in args.arch or sorted(ARCHS):
            print(json.dumps({"model": ARCHS[arch]["name"], **evaluate_bundled(arch, args.n_test)}))
        return 0
    if args.cmd == "render":
        render_training_set(args.work_dir, full=args.full)
        return 0
    t0 = time.time()
    if not (args.work_dir / "rendered.json").exists():
        render_training_set(args.work_dir)
    if args.cmd == "all":
        for arch in ("resnet", "hybrid", "vit"):  # the ResNet first: the hybrid's stem, the ViT's teacher
            print(f"exported {train_stages(recipe_stages(arch), args.work_dir)}", flush=True)
        for arch in ("vit", "hybrid", "resnet"):
            print(json.dumps({"model": ARCHS[arch]["name"], **evaluate_bundled(arch, args.n_test)}))
        print(f"all done in {(time.time() - t0) / 60:.1f} min")
        return 0
    overrides = {k: v for k, v in vars(args).items() if k in TrainConfig.__dataclass_fields__}
    print(f"exported {train_stages(recipe_stages(**overrides), args.work_dir, args.out_dir)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
