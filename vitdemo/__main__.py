"""`python -m vitdemo ...` (see vitdemo.cli)."""

if __name__ == "__main__":  # not on re-import, e.g. by multiprocessing's spawn
    from vitdemo.cli import main

    raise SystemExit(main())
