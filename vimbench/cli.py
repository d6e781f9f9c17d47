"""The `vimbench` command: one subcommand per module, imported only when it is used.

Each command module provides `add_arguments(parser)` and `main(args) -> int`; heavy
imports (torch, pandas) stay inside those functions so `vimbench --help` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = {
    "run": ("vimbench.sweep", "run a suite: every cell in its own process, one row per cell"),
    "report": ("vimbench.report.command", "tables, plots and the claims verdict from run directories"),
    "compare": ("vimbench.compare.command", "compare two result files; non-zero exit on a regression"),
    "profile": ("vimbench.profile.command", "where the time, memory and energy of one cell go"),
    "list": ("vimbench.listing", "list suites, models and precisions"),
    "env": ("vimbench.env", "print what the harness sees: GPU, NVML, versions"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vimbench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        module = importlib.import_module(module_name)
        module.add_arguments(command)
        command.set_defaults(_handler=module.main)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args._handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
