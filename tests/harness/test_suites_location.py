"""The built-in suites live in the repository's top-level `suites/`; `vimbench run --suite NAME`
finds them in a checkout and, shipped as `vimbench/suites/`, in an installed wheel."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from vimbench.suite import builtin_suite_names, find_suite, suites_dir

REPO = Path(__file__).resolve().parents[2]


def test_checkout_uses_the_top_level_suites_folder():
    assert Path(str(suites_dir())) == REPO / "suites"
    assert not (REPO / "vimbench" / "suites").exists()
    names = sorted(p.stem for p in (REPO / "suites").glob("*.toml"))
    assert builtin_suite_names() == names and "smoke" in names
    assert find_suite("smoke") == REPO / "suites" / "smoke.toml"


@pytest.mark.slow
def test_wheel_ships_the_suites_and_finds_them_installed(tmp_path, subprocess_env):
    """Build the wheel (pip, build isolation as a user gets it), unpack it as an install would,
    and ask that copy of vimbench for its suites: found inside the package, not in the checkout."""
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-q", "-w", str(tmp_path)],
                           capture_output=True, text=True, timeout=600, check=False)
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = tmp_path.glob("vimbench-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        archive.extractall(tmp_path / "site")
    expected = {f"vimbench/suites/{p.name}" for p in (REPO / "suites").glob("*.toml")}
    assert expected <= set(names), sorted(n for n in names if "suites" in n)
    assert "vimbench/data/paper_figure1.csv" in names

    env = dict(subprocess_env, PYTHONPATH=str(tmp_path / "site"))  # the unpacked wheel first, not the checkout
    probe = ("import vimbench.suite as s; print(s.__file__); print(s.suites_dir()); "
             "print(','.join(s.builtin_suite_names())); print(s.find_suite('smoke'))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=tmp_path,
                         timeout=120, check=True).stdout.splitlines()
    site = str(tmp_path / "site")
    assert out[0].startswith(site) and out[1].startswith(site) and out[3].startswith(site)
    assert out[2].split(",") == builtin_suite_names()
