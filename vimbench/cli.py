"""The `vimbench` command: one subcommand per module, imported only when it is used.

Each command module provides `add_arguments(parser)` and `main(args) -> int`; heavy
imports (pandas, matplotlib, profilers) stay inside those functions.  torch and timm are
imported by the package itself (`import vimbench` registers the models in timm's registry).
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
    "kernels": ("vimbench.kernel_bench", "benchmark the Triton scan kernels: ms, GB/s, share of copy "
                "bandwidth and of the exponential floor, checked against float64 first"),
    "list": ("vimbench.listing", "list suites, models and precisions"),
    "env": ("vimbench.env", "print what the harness sees: GPU, NVML, versions"),
}


def build_parser(selected: str | None = None) -> argparse.ArgumentParser:
    """The parser; only the `selected` command's module is imported (others list their help)."""
    parser = argparse.ArgumentParser(prog="vimbench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        if name != selected:
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            # A command whose module is not written yet must not break the others.
            if exc.name is None or not module_name.startswith(exc.name):
                raise
            command.set_defaults(_handler=_unavailable(name, module_name))
            continue
        module.add_arguments(command)
        command.set_defaults(_handler=module.main)
    return parser


def _unavailable(name: str, module_name: str):
    def handler(args) -> int:
        print(f"vimbench {name}: not available in this version ({module_name} is missing)", file=sys.stderr)
        return 2
    return handler


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    selected = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(selected if selected in COMMANDS else None).parse_args(argv)
    return int(args._handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
