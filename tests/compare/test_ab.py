"""A/B mode end to end on the CPU: two source trees whose 'kernel' differs in speed,
timed interleaved by two workers, then gated.  Also from git revisions (worktrees), and
against a tree from before the kernel library (its kernels in vimbench/kernels/)."""

import json
import subprocess
import textwrap

import pytest

from vimbench.cli import main
from vimbench.compare.ab import ABError, run_ab

CASES_FILE = textwrap.dedent("""
    AB_CASES = ("spin-small", "spin-large")

    def ab_callable(name, device="cpu"):
        from mamba_triton.selective_scan import work  # imported from the side's own tree
        n = {"spin-small": 20_000, "spin-large": 60_000}[name]
        return lambda: work(n)
""")

KERNEL = textwrap.dedent("""
    def work(n):
        total = 0
        for i in range(n * {factor}):
            total += i
        return total
""")


def make_tree(root, factor, legacy=False):
    """A source tree whose scan 'kernel' is work(n): in kernels/mamba_triton/ (the library),
    or with legacy=True in vimbench/kernels/ as trees were before the library existed."""
    package = root / ("vimbench/kernels" if legacy else "kernels/mamba_triton")
    (package / "selective_scan").mkdir(parents=True)
    if legacy:
        (root / "vimbench" / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "selective_scan" / "__init__.py").write_text(KERNEL.replace("{factor}", str(factor)))
    return root


def kernel_file(tree):
    return tree / "kernels" / "mamba_triton" / "selective_scan" / "__init__.py"


@pytest.fixture
def cases_file(tmp_path):
    path = tmp_path / "cases.py"
    path.write_text(CASES_FILE)
    return path


def test_interleaved_samples_and_sources(tmp_path, cases_file):
    a, b = make_tree(tmp_path / "a", 1), make_tree(tmp_path / "b", 1)
    logs = []
    base, cand = run_ab(
        str(a),
        str(b),
        rounds=4,
        iters=3,
        cases_file=cases_file,
        device="cpu",
        save_dir=tmp_path / "out",
        log=logs.append,
    )
    base_doc, cand_doc = json.loads(base.read_text()), json.loads(cand.read_text())
    assert base_doc["machine_info"]["ab_order"] == "ABBAABBA"
    for doc, tree in ((base_doc, a), (cand_doc, b)):
        assert [bm["fullname"] for bm in doc["benchmarks"]] == ["ab::spin-small", "ab::spin-large"]
        for bm in doc["benchmarks"]:
            assert len(bm["stats"]["data"]) == 4 * 3
            assert bm["extra_info"]["source"] == str(tree.resolve())
    assert any("order ABBAABBA" in line for line in logs)


def test_tree_from_before_the_library_runs_through_the_shim(tmp_path, cases_file):
    old, new = make_tree(tmp_path / "old", 1, legacy=True), make_tree(tmp_path / "new", 1)
    base, cand = run_ab(str(old), str(new), rounds=2, iters=2, cases_file=cases_file, device="cpu",
                        save_dir=tmp_path / "out", log=lambda *_: None)
    for path, tree in ((base, old), (cand, new)):
        doc = json.loads(path.read_text())
        assert [bm["extra_info"]["source"] for bm in doc["benchmarks"]] == [str(tree.resolve())] * 2


def test_slower_candidate_fails_the_gate(tmp_path, cases_file, capsys):
    a, b = make_tree(tmp_path / "a", 1), make_tree(tmp_path / "b", 2)  # B does twice the work
    code = main(
        [
            "compare",
            "--ab",
            str(a),
            str(b),
            "--rounds",
            "4",
            "--iters",
            "4",
            "--ab-cases-file",
            str(cases_file),
            "--ab-device",
            "cpu",
            "--save-dir",
            str(tmp_path / "out"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 1, out
    assert "ab::spin-small" in out.split("FAIL")[1] and "ab::spin-large" in out.split("FAIL")[1]


def test_broken_side_is_a_usage_error(tmp_path, cases_file, capsys):
    a = make_tree(tmp_path / "a", 1)
    broken = make_tree(tmp_path / "b", 1)
    kernel_file(broken).write_text("raise ImportError('no kernel here')\n")
    code = main(
        [
            "compare",
            "--ab",
            str(a),
            str(broken),
            "--rounds",
            "2",
            "--iters",
            "1",
            "--ab-cases-file",
            str(cases_file),
            "--ab-device",
            "cpu",
        ]
    )
    assert code == 2
    assert "side B" in capsys.readouterr().err


def test_git_revisions_become_worktrees(tmp_path, cases_file):
    repo = tmp_path / "repo"
    make_tree(repo, 1)

    def git(*args):
        done = subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True)
        return done.stdout.strip()

    git("init", "-q")
    git("-c", "user.email=t@t", "-c", "user.name=t", "add", ".")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "fast")
    kernel_file(repo).write_text(KERNEL.replace("{factor}", "3"))
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qam", "slow")
    # the A/B code finds the repository from its own location, so run it from inside `repo`
    import vimbench.compare.ab as ab

    old = ab._repo_root
    ab._repo_root = lambda: repo
    try:
        base, cand = run_ab(
            "HEAD~1",
            "HEAD",
            rounds=2,
            iters=2,
            cases="spin-small",
            cases_file=cases_file,
            device="cpu",
            save_dir=tmp_path / "out",
            log=lambda *_: None,
        )
    finally:
        ab._repo_root = old
    base_doc, cand_doc = json.loads(base.read_text()), json.loads(cand.read_text())
    assert base_doc["commit_info"]["id"] == git("rev-parse", "HEAD~1")
    assert cand_doc["commit_info"]["id"] == git("rev-parse", "HEAD")
    base_ms = base_doc["benchmarks"][0]["stats"]["median"]
    cand_ms = cand_doc["benchmarks"][0]["stats"]["median"]
    assert cand_ms > 2 * base_ms  # 3x the work
    assert len(git("worktree", "list").splitlines()) == 1  # the temporary worktrees are gone


def test_bad_arguments(tmp_path, cases_file):
    with pytest.raises(ABError, match="rounds"):
        run_ab(".", ".", rounds=1, cases_file=cases_file, device="cpu")
    with pytest.raises(ABError, match="neither kernels/mamba_triton"):
        run_ab(str(tmp_path), str(tmp_path), cases_file=cases_file, device="cpu")
