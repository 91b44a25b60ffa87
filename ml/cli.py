"""`python -m ml COMMAND ...`: each command lives in its own module, imported only when used.

A command module exposes `add_arguments(parser)` and `run(args) -> int`.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys

COMMANDS = {
    "smoke": ("ml.smoke", "build a tiny network and run it on an image (the stack's smoke check)"),
    "render": ("ml.data.export_cli", "render the synthetic world to CelebA / MultiPIE / CelebAMask-HQ folders"),
    "contact-sheet": ("ml.data.contact_sheet", "draw a PNG grid of attributes x styles x yaw"),
    "train-oracle": ("ml.oracles.cli", "train the attribute / style / identity oracles"),
    "train": ("ml.training.cli", "train a method (python -m ml train METHOD --preset starter)"),
    "eval": ("ml.evaluation.cli", "evaluate a method's checkpoint on held-out synthetic faces"),
    "fit-references": ("ml.training.references_cli", "recompute a checkpoint's mean references (exact means)"),
}


def _module_exists(module_name: str) -> bool:
    try:
        return importlib.util.find_spec(module_name) is not None
    except ModuleNotFoundError:  # a parent package is not written yet
        return False


def _available_commands() -> dict:
    found = {}
    for name, (module_name, help_text) in COMMANDS.items():
        if _module_exists(module_name):
            found[name] = (module_name, help_text)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml", description="FaceLab machine learning")
    subparsers = parser.add_subparsers(dest="command", required=True)
    modules = {}
    for name, (module_name, help_text) in _available_commands().items():
        module = importlib.import_module(module_name)
        module.add_arguments(subparsers.add_parser(name, help=help_text, description=help_text))
        modules[name] = module
    args = parser.parse_args(argv)
    from ml.checkpoints import CheckpointError
    from ml.config import ConfigError
    from ml.runtime import configure_torch

    configure_torch(getattr(args, "threads", None))
    try:
        return int(modules[args.command].run(args) or 0)
    except (ConfigError, CheckpointError) as error:  # the user's input, not a bug: no traceback
        print(f"python -m ml {args.command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
