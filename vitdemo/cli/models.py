"""`python -m vitdemo models` (what works here, now) and `python -m vitdemo fetch SPEC...` (before class).

`fetch` downloads into the standard Hugging Face cache (HF_HUB_CACHE, ~/.cache/huggingface/hub by
default), the same place `load_model` and the app look; it needs internet access once.
"""

from __future__ import annotations

import argparse
import json
import sys

from vitdemo.cli.common import EXIT_BAD_INPUT, EXIT_OK
from vitdemo.errors import ModelSpecError, VitdemoError
from vitdemo.models.specs import RANDOM_SUFFIX, SPEC_HELP


def register(subparsers: argparse._SubParsersAction) -> None:
    models = subparsers.add_parser(
        "models",
        help="list the models that work here (bundled, cached) and the known downloadable ones",
        description="List bundled models, models in the local Hugging Face cache and known downloadable ones.",
    )
    models.add_argument("--json", action="store_true", help="print a JSON list")
    models.set_defaults(func=run_models)

    fetch = subparsers.add_parser(
        "fetch",
        help="download models into the local Hugging Face cache (for offline use later)",
        description="Download models into the standard Hugging Face cache and check that they load. "
        "Run it once with internet access; afterwards the models work offline.",
    )
    fetch.add_argument("specs", nargs="+", metavar="SPEC", help=SPEC_HELP)
    fetch.set_defaults(func=run_fetch)


def run_models(args: argparse.Namespace) -> int:
    from vitdemo.models import list_models

    rows = list_models()
    if args.json:
        print(json.dumps([row.to_dict() for row in rows], indent=2))
        return EXIT_OK
    width = max(len(row.spec) for row in rows) + 2
    print(f"{'SPEC':<{width}}{'STATUS':<10}{'OFFLINE':<9}DESCRIPTION")
    for row in rows:
        print(f"{row.spec:<{width}}{row.status:<10}{'yes' if row.offline else 'no':<9}{row.description}")
    print(
        f"\nAny spec followed by {RANDOM_SUFFIX} loads untrained weights, offline (hf: specs need the "
        "repository's config fetched once). "
        "Download one for offline use with: python -m vitdemo fetch SPEC"
    )
    return EXIT_OK


def run_fetch(args: argparse.Namespace) -> int:
    from vitdemo.models import fetch_model
    from vitdemo.models.hub import cache_dir
    from vitdemo.models.specs import parse_spec

    for spec in args.specs:  # all usage errors first, before any download starts
        parse_spec(spec)
    failed = 0
    for spec in args.specs:
        try:
            model = fetch_model(spec)
        except ModelSpecError:
            raise
        except VitdemoError as err:
            print(f"vitdemo fetch: error: {err}", file=sys.stderr)
            failed += 1
            continue
        print(f"{spec}: ready ({model.source})")
    print(f"Hugging Face cache: {cache_dir()}")
    return EXIT_OK if not failed else EXIT_BAD_INPUT
