"""`timm:<name>` baselines: validated at suite load, built at the cell's resolution, timed like
any other model, an error row where the size does not fit, and a report with a third family."""

import pytest

from vimbench.cli import main as cli_main
from vimbench.models import create_model, get_model_spec
from vimbench.report.build import build_report
from vimbench.report.names import counterpart, family, series_label
from vimbench.results import read_rows
from vimbench.suite import SuiteError, load_suite

SUITE = """
device = "cpu"
isolation = "inline"
precisions = ["fp32"]
batches = [1]
[timing]
warmup_min_iters = 1
warmup_min_s = 0.0
iters = 2
[[models]]
name = "timm:vit_tiny_patch16_224"
resolutions = [32, 40]
[[models]]
name = "timm:resnet18"
resolutions = [32]
[[models]]
name = "deit_tiny"
variants = ["sdpa"]
resolutions = [32]
[[models]]
name = "vim_tiny"
variants = ["torch"]
resolutions = [32]
"""


def test_unknown_timm_name_is_a_suite_error_with_a_hint(write_suite):
    path = write_suite(SUITE.replace("timm:resnet18", "timm:resnet18x"))
    with pytest.raises(SuiteError) as err:
        load_suite(path)
    message = str(err.value)
    assert str(path) in message and "models[1].name" in message
    assert "timm has no model 'resnet18x'" in message and "timm:resnet18" in message and "timm.list_models" in message


def test_timm_spec_and_build_at_the_resolution():
    spec = get_model_spec("timm:vit_small_patch16_224")
    assert (spec.family, spec.variants, spec.default_variant, spec.tokens(224)) == ("timm", ("default",), "default",
                                                                                   None)
    vit = create_model("timm:vit_small_patch16_224", img_size=64)
    assert vit.patch_embed.img_size == (64, 64) and vit.pos_embed.shape[1] == 16 + vit.num_prefix_tokens
    cnn = create_model("timm:resnet18", img_size=64)  # no img_size argument: built as timm builds it
    assert cnn.forward_features(__import__("torch").randn(1, 3, 48, 48)).shape[1] == 512
    with pytest.raises(ValueError, match="not a multiple of it"):
        create_model("timm:vit_small_patch16_224", img_size=40)


def test_names_keep_timm_out_of_the_vim_deit_pairs():
    assert family("timm:vit_small_patch16_224") == "timm" and counterpart("timm:vit_small_patch16_224") is None
    assert series_label("timm:resnet101", "default") == "resnet101 (timm)"
    assert series_label("deit_tiny", "sdpa") == "DeiT-Ti (sdpa)"


def test_timm_baselines_run_inline_end_to_end_and_report(write_suite, tmp_path):
    path = write_suite(SUITE)
    assert cli_main(["run", "--suite", str(path), "--runs-dir", str(tmp_path / "runs")]) == 1  # 40 px ViT: error row
    (run_dir,) = (tmp_path / "runs").iterdir()
    rows = {r.cell_id: r for r in read_rows(run_dir / "results.jsonl").rows}
    ok = rows["timm:vit_tiny_patch16_224|default|r32|b1|fp32|eager"]
    assert ok.status == "ok" and ok.images_per_s > 0 and ok.variant == "default"
    assert ok.attention is None and ok.scan_backend is None and ok.tokens is None
    assert rows["timm:resnet18|default|r32|b1|fp32|eager"].status == "ok"
    bad = rows["timm:vit_tiny_patch16_224|default|r40|b1|fp32|eager"]
    assert bad.status == "error" and "build" in bad.error and "multiple of 16" in bad.error

    report = build_report([run_dir], run_dir / "report")
    text = report.read_text()
    assert "vit_tiny_patch16_224 (timm)" in text and "resnet18 (timm)" in text
    ratios = (run_dir / "report" / "ratios.csv").read_text()
    assert "timm" not in ratios and "vim_tiny" in ratios  # the Vim / DeiT pair, and only that
