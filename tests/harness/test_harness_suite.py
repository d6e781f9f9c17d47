"""Suite loading and validation: every mistake names the file, the key and the allowed values."""

import subprocess
import sys

import pytest

from vimbench.cli import main as cli_main
from vimbench.suite import SuiteError, builtin_suite_names, load_suite, oom_probe_cells, parse_only

GOOD = """
description = "ok"
precisions = ["fp32"]
resolutions = [32]
batches = [2]
[[models]]
name = "deit_tiny"
variants = ["eager", "sdpa"]
"""

# (what is wrong, suite text, key the error must name, a word of the allowed values)
BAD = [
    ("unknown top-level key", 'colour = "red"\n' + GOOD, "colour", "batches"),
    ("unknown model", GOOD.replace('name = "deit_tiny"', 'name = "deit_tinny"'), "models[0].name", "deit_tiny"),
    ("unknown variant", GOOD.replace('"eager", "sdpa"', '"eager", "flash"'), "models[0].variants", "sdpa"),
    ("unknown precision", GOOD.replace('["fp32"]', '["fp8"]'), "precisions", "amp-fp16"),
    ("resolution not a multiple of the patch", GOOD.replace("[32]", "[738]"), "resolutions", "736"),
    ("resolution in an entry", GOOD + "resolutions = [100]\n", "models[0].resolutions", "multiples of 16"),
    ("batch below one", GOOD.replace("batches = [2]", "batches = [0]"), "batches", "integers >= 1"),
    ("batch not an integer", GOOD.replace("batches = [2]", 'batches = ["2"]'), "batches", "integers >= 1"),
    ("unknown timing key", GOOD + "[timing]\nwarmup = 3\n", "timing.warmup", "warmup_min_iters"),
    ("bad timing value", GOOD + "[timing]\niters = 0\n", "timing.iters", "integers >= 1"),
    ("unknown device", 'device = "tpu"\n' + GOOD, "device", "auto, cuda, cpu"),
    ("unknown exec mode", 'exec_modes = ["jit"]\n' + GOOD, "exec_modes", "cuda_graph"),
    ("unknown compile mode", 'exec_modes = ["compile:fastest"]\n' + GOOD, "exec_modes", "max-autotune"),
    ("unknown entry key", GOOD + "heads = 3\n", "models[0].heads", "variants"),
    ("no models", 'precisions = ["fp32"]\n', "models", "variants"),
    ("unimportable plugin", 'plugins = ["no_such_module_xyz"]\n' + GOOD, "plugins", "importable"),
    ("duplicate cells", GOOD + '[[models]]\nname = "deit_tiny"\nvariants = ["sdpa"]\n', "models[1]", "each cell once"),
    ("a value repeated in one entry", GOOD.replace('["eager", "sdpa"]', '["eager", "sdpa", "eager"]'), "models[0]",
     "each cell once"),
    ("bad estimate batches", "estimate_oom_batches = [0]\n" + GOOD, "estimate_oom_batches", "integers >= 1"),
    ("bad isolation", 'isolation = "thread"\n' + GOOD, "isolation", "process, inline"),
    ("TOML syntax", GOOD + "[[models]\n", "(syntax)", None),
]


@pytest.mark.parametrize("problem,text,key,allowed", BAD, ids=[b[0].replace(" ", "-") for b in BAD])
def test_bad_suite_error_names_file_key_and_allowed(problem, text, key, allowed, write_suite):
    path = write_suite(text)
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    err = info.value
    assert err.key == key, str(err)
    assert str(path) in str(err)
    assert key in str(err)
    if allowed is not None:
        assert allowed in (err.allowed or ""), str(err)


def test_good_suite_expands_to_cells(write_suite):
    suite = load_suite(write_suite(GOOD))
    cells = suite.cells()
    assert [c.cell_id for c in cells] == ["deit_tiny|eager|r32|b2|fp32|eager", "deit_tiny|sdpa|r32|b2|fp32|eager"]
    assert suite.name == "t"


def test_entry_overrides_and_repeats_and_only(write_suite):
    text = GOOD.replace('description = "ok"', 'description = "ok"\nrepeats = 2') + \
        '[[models]]\nname = "deit_small"\nvariants = ["sdpa"]\nresolutions = [48, 64]\nbatches = [1]\n'
    suite = load_suite(write_suite(text))
    cells = suite.cells()
    assert len(cells) == (2 + 2) * 2
    assert [c.repeat for c in cells] == [0] * 4 + [1] * 4  # repeats go round the whole sweep
    assert len({c.cell_id for c in cells}) == len(cells)
    only = parse_only(["model=deit_small", "resolution=64"])
    assert [c.cell_id for c in suite.cells(only)] == ["deit_small|sdpa|r64|b1|fp32|eager",
                                                       "deit_small|sdpa|r64|b1|fp32|eager|rep1"]


def test_only_models_skips_registry_check_of_other_models(write_suite):
    text = GOOD + '[[models]]\nname = "not_built_here"\nvariants = ["x"]\n'
    with pytest.raises(SuiteError):
        load_suite(write_suite(text))
    suite = load_suite(write_suite(text), only_models={"deit_tiny"})
    assert {c.model for c in suite.cells(parse_only(["model=deit_tiny"]))} == {"deit_tiny"}


def test_oom_probes_are_smaller_batches_marked_as_estimates(write_suite):
    suite = load_suite(write_suite("estimate_oom_batches = [64, 8, 2, 256]\n" + GOOD.replace("[2]", "[128]")))
    probes = oom_probe_cells(suite.cells()[0], suite)
    assert [p.batch for p in probes] == [2, 8, 64]
    assert all(p.purpose == "oom_estimate" and p.cell_id.endswith("|oom_estimate") for p in probes)


def test_builtin_suites_load():
    assert {"smoke", "highres", "classic224"} <= set(builtin_suite_names())
    highres = load_suite("highres")
    assert sorted({c.resolution for c in highres.cells()}) == [512, 640, 736, 1024, 1248]
    assert {(c.model, c.variant) for c in highres.cells()} == {
        ("deit_tiny", "eager"), ("deit_tiny", "sdpa"), ("vim_tiny", "triton"), ("vim_tiny", "triton-fused")}
    assert {c.batch for c in highres.cells()} == {128}
    assert highres.estimate_oom_batches
    smoke = load_suite("smoke")
    assert smoke.device == "auto" and {c.batch for c in smoke.cells()} == {2}
    classic = load_suite("classic224")
    assert {c.model for c in classic.cells()} == {f"{f}_{s}" for f in ("deit", "vim") for s in ("tiny", "small", "base")}


def test_cli_returns_2_for_bad_suite_and_bad_filters(write_suite, capsys):
    bad = write_suite(GOOD.replace("[32]", "[738]"), name="bad")
    assert cli_main(["run", "--suite", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "resolutions" in err and "736" in err
    good = write_suite(GOOD)
    assert cli_main(["run", "--suite", str(good), "--only", "colour=red", "--dry-run"]) == 2
    assert "model, variant, resolution" in capsys.readouterr().err
    assert cli_main(["run", "--suite", str(good), "--only", "resolution=64", "--dry-run"]) == 2
    assert "selects no cells" in capsys.readouterr().err
    assert cli_main(["run", "--suite", "no_such_suite"]) == 2
    assert "highres" in capsys.readouterr().err
    assert cli_main(["run", "--suite", str(good), "--dry-run"]) == 0


def test_console_exit_code_is_2(write_suite, subprocess_env, tmp_path):
    bad = write_suite('precisions = ["fp8"]\n' + GOOD.replace('precisions = ["fp32"]\n', ""), name="bad")
    proc = subprocess.run([sys.executable, "-m", "vimbench", "run", "--suite", str(bad), "--runs-dir", str(tmp_path)], check=False,
                          capture_output=True, text=True, env=subprocess_env, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert str(bad) in proc.stderr and "precisions" in proc.stderr and "amp-fp16" in proc.stderr
    assert not any(tmp_path.glob("*-bad")), "a rejected suite must not create a run directory"


def test_one_model_in_several_entries_with_other_exec_modes_and_resolutions(write_suite):
    text = GOOD + ('[[models]]\nname = "deit_tiny"\nvariants = ["sdpa", "sdpa-cudnn"]\nresolutions = [32, 48]\n'
                   'exec_modes = ["cuda_graph", "compile"]\n')
    cells = load_suite(write_suite(text)).cells()
    assert len(cells) == 2 + 2 * 2 * 2
    assert len({c.cell_id for c in cells}) == len(cells)
    assert {(c.variant, c.exec_mode) for c in cells if c.resolution == 32} == {
        ("eager", "eager"), ("sdpa", "eager"), ("sdpa", "cuda_graph"), ("sdpa", "compile"),
        ("sdpa-cudnn", "cuda_graph"), ("sdpa-cudnn", "compile")}


def test_a_repeated_value_names_its_own_entry(write_suite):
    with pytest.raises(SuiteError, match=r"models\[0\]: cell deit_tiny\|eager\|r32\|b2\|fp32\|eager repeats a value"):
        load_suite(write_suite(GOOD.replace("resolutions = [32]", "resolutions = [32, 32]")))


PAPER_SIZES = [224, 512, 640, 736, 1024, 1248]


def test_paper_suite_covers_figure_1_and_runs_the_verdict_cells_first():
    suite = load_suite("paper")
    assert "DeiT-Ti" in suite.description and "2048" in suite.description
    assert (suite.device, suite.estimate_oom_batches, suite.cell_timeout_s) == ("auto", (16, 32, 64), 600)
    cells = suite.cells()
    assert {(c.batch, c.precision) for c in cells} == {(128, "amp-fp16")}
    got = {(c.model, c.variant, c.exec_mode, c.resolution) for c in cells}
    want = {("deit_tiny", v, "eager", r) for v in ("eager", "sdpa-efficient") for r in PAPER_SIZES}
    want |= {("deit_tiny", v, "eager", r) for v in ("sdpa", "sdpa-cudnn", "sdpa-flash") for r in PAPER_SIZES + [1536, 2048]}
    want |= {("deit_tiny", v, m, r) for v in ("sdpa", "sdpa-flash") for m in ("cuda_graph", "compile") for r in (224, 1248)}
    want |= {("deit_tiny", v, "compile", 1024) for v in ("sdpa", "sdpa-flash")}
    want |= {("vim_tiny", v, "eager", r) for v in ("official", "triton-fused") for r in PAPER_SIZES + [1536, 2048]}
    want |= {("vim_tiny", v, m, r) for v in ("official", "triton-fused") for m in ("cuda_graph", "compile")
             for r in (224, 1248)}
    assert got == want and len(cells) == len(want)
    # a run cut short by the device's time limit has the verdict table's cells already
    verdict = [i for i, c in enumerate(cells) if c.resolution in (1024, 1248)]
    assert verdict == list(range(len(verdict)))
