"""Run code against one of `benchmarks/*.py` in a child process and read back what it prints
as JSON: the scripts that record or skip Triton launches on fake tensors need the kernels
imported without TRITON_INTERPRET (or, to time the host path, with it), which the test
process has already decided."""

import json
import os
import subprocess
import sys
import textwrap

from tests.harness.conftest import REPO_ROOT

_PRELUDE = textwrap.dedent("""
    import importlib.util, json, sys, time
    spec = importlib.util.spec_from_file_location("script", sys.argv[1])
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    args = sys.argv[2:]
""")


def run_benchmark(name: str, body: str, *args, interpret: bool = False):
    """Load benchmarks/<name> as `script`, run `body` (which sets `out`; `args` are the extra
    arguments, as strings) and return `out` through JSON."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    if interpret:
        env["TRITON_INTERPRET"] = "1"
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "kernels"), env.get("PYTHONPATH", "")])
    code = _PRELUDE + textwrap.dedent(body) + "\nprint(json.dumps(out))\n"
    done = subprocess.run([sys.executable, "-c", code, str(REPO_ROOT / "benchmarks" / name), *map(str, args)],
                          capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])
