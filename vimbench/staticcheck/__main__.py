"""`python -m vimbench.staticcheck [--record] [--baseline PATH]`.

Exit codes: 0 every configuration within its baseline, 1 a regression (spills, occupancy
cliff, more work per element, narrower vectors, a lost configuration), 2 usage error.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import sys
from pathlib import Path

DEFAULT_BASELINE = Path("reports/static/sm90.json")


def build_parser() -> argparse.ArgumentParser:
    from vimbench.staticcheck.check import DEFAULT_INSTRUCTION_TOLERANCE
    from vimbench.staticcheck.collect import DEFAULT_SOURCES

    parser = argparse.ArgumentParser(
        prog="python -m vimbench.staticcheck", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--configs",
        action="append",
        default=None,
        metavar="MODULE:ATTR",
        help=f"where the KernelConfig list lives (repeatable; default {', '.join(DEFAULT_SOURCES)})",
    )
    parser.add_argument(
        "--baseline", type=Path, default=DEFAULT_BASELINE, help=f"baseline JSON (default {DEFAULT_BASELINE})"
    )
    parser.add_argument("--record", action="store_true", help="write the measurements as the new baseline")
    parser.add_argument(
        "--only", action="append", default=[], metavar="GLOB", help="configurations to include"
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=DEFAULT_INSTRUCTION_TOLERANCE,
        help="allowed relative growth of hot-loop instructions per element (default %(default)s)",
    )
    parser.add_argument(
        "--arch", type=int, default=90, help="CUDA compute capability to compile for (default 90)"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the measurements here")
    parser.add_argument(
        "--full",
        action="store_true",
        help="compile every configuration, also those whose fingerprint (kernel source, "
        "signature, options, compiler) equals the baseline's",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from vimbench.staticcheck.check import check_all
    from vimbench.staticcheck.collect import DEFAULT_SOURCES, SourceError, load_configs, measure_all
    from vimbench.staticcheck.report import render
    from vimbench.staticcheck.spec import SpecError
    from vimbench.staticcheck.toolchain import ToolchainError

    reuse = None
    if not args.record and not args.full and args.baseline.exists():
        reuse = json.loads(args.baseline.read_text()).get("configs")
    try:
        configs = load_configs(args.configs or DEFAULT_SOURCES, args.only)
        if not configs:
            raise SourceError("no kernel configuration selected")
        measured = measure_all(configs, args.arch, reuse=reuse, log=print)
    except (SourceError, SpecError, ToolchainError) as exc:
        print(f"staticcheck: error: {exc}", file=sys.stderr)
        return 2
    import triton

    document = {
        "target": f"sm_{args.arch}",
        "triton_version": triton.__version__,
        "recorded_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": "python -m vimbench.staticcheck "
        + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])),
        "configs": measured,
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    if args.record:
        args.baseline.parent.mkdir(parents=True, exist_ok=True)
        args.baseline.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
        print(render(measured, None))
        print(f"recorded {len(measured)} configurations in {args.baseline}")
        return 0
    if not args.baseline.exists():
        print(
            f"staticcheck: error: no baseline at {args.baseline}; record one with --record", file=sys.stderr
        )
        return 2
    baseline = json.loads(args.baseline.read_text())
    if baseline.get("triton_version") != triton.__version__:
        print(
            f"WARNING: baseline compiled with triton {baseline.get('triton_version')}, "
            f"now {triton.__version__}; differences may come from the compiler, not the kernel"
        )
    if baseline.get("target") != document["target"]:
        print(
            f"staticcheck: error: baseline is for {baseline.get('target')}, "
            f"this run for {document['target']}",
            file=sys.stderr,
        )
        return 2
    base_configs = baseline["configs"]
    if args.only:
        import fnmatch

        base_configs = {
            k: v for k, v in base_configs.items() if any(fnmatch.fnmatchcase(k, g) for g in args.only)
        }
    results = check_all(base_configs, measured, args.tolerance)
    print(render(measured, base_configs))
    print()
    failed = [r for r in results if r.failures]
    for result in results:
        for line in result.failures:
            print(f"FAIL {result.name}: {line}")
        for line in result.notes:
            print(f"note {result.name}: {line}")
    if failed:
        print(f"FAIL: {len(failed)} of {len(results)} configurations regressed against {args.baseline}")
        return 1
    print(f"PASS: {len(results)} configurations within {args.baseline}")
    return 0


if __name__ == "__main__":
    os.environ.pop("TRITON_INTERPRET", None)  # too late for kernels already imported, harmless otherwise
    sys.exit(main())
