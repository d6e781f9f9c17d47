"""Mode "train": suite axis and refusals, the training step, and train cells as rows."""

import json

import pytest
import torch

import vimbench
from vimbench.cli import main as cli_main
from vimbench.results import Row, append_row, read_rows
from vimbench.runner import CellJob, run_cell
from vimbench.suite import SuiteError, import_plugins, load_suite, parse_only
from vimbench.timing import TimingSettings
from vimbench.train_step import TrainStep, pooled_loss

FAKE_PLUGIN = "tests.harness.fake_models"
TINY_VIM_PLUGIN = "tests.harness.tiny_vim"  # vim_micro: vim_tiny's entry at D 32, depth 1
FAST = TimingSettings(warmup_min_iters=1, warmup_min_s=0.0, iters=2)

BOTH = """
precisions = ["fp32"]
resolutions = [32]
batches = [2]
modes = ["infer", "train"]
[[models]]
name = "deit_tiny"
variants = ["eager"]
[[models]]
name = "vim_tiny"
variants = ["torch"]
modes = ["train"]
"""


def _cell(model, variant, precision="fp32", resolution=32, batch=2, mode="train"):
    from vimbench.suite import Cell

    return Cell(model, variant, resolution, batch, precision, mode=mode)


def _job(cell, plugins=()):
    return CellJob(cell=cell, suite="test", device="cpu", timing=FAST, plugins=plugins)


# --- the suite axis ----------------------------------------------------------------------------

def test_modes_expand_at_suite_and_entry_level(write_suite):
    suite = load_suite(write_suite(BOTH))
    ids = [c.cell_id for c in suite.cells()]
    assert ids == ["deit_tiny|eager|r32|b2|fp32|eager", "deit_tiny|eager|r32|b2|fp32|eager|train",
                   "vim_tiny|torch|r32|b2|fp32|eager|train"]
    assert [c.cell_id for c in suite.cells(parse_only(["mode=train", "model=deit_tiny"]))] == [ids[1]]


def test_mode_defaults_to_infer_and_infer_ids_are_unchanged(write_suite):
    suite = load_suite(write_suite(BOTH.replace('modes = ["infer", "train"]\n', "").replace('modes = ["train"]\n', "")))
    assert {c.mode for c in suite.cells()} == {"infer"}
    assert suite.cells()[0].cell_id == "deit_tiny|eager|r32|b2|fp32|eager"  # as before modes existed


# (what is wrong, suite text, key the error must name, a word of the allowed values)
REFUSED = [
    ("unknown mode", BOTH.replace('["infer", "train"]', '["infer", "finetune"]'), "modes", "train"),
    ("pure fp16 weights", BOTH.replace('precisions = ["fp32"]', 'precisions = ["fp16"]'), "precisions", "amp-bf16"),
    ("pure bf16 weights in an entry", BOTH + 'precisions = ["bf16"]\n', "models[1].precisions", "amp-fp16"),
    ("tf32", BOTH.replace('precisions = ["fp32"]', 'precisions = ["tf32"]'), "precisions", "fp32"),
    ("cuda graphs", 'exec_modes = ["cuda_graph"]\n' + BOTH, "exec_modes", "eager"),
    ("compile in an entry", BOTH + 'exec_modes = ["eager", "compile"]\n', "models[1].exec_modes", "eager"),
    ("torch scan above 512 px", BOTH + "resolutions = [512, 528]\n", "models[1].resolutions", "<= 512"),
]


@pytest.mark.parametrize("problem,text,key,allowed", REFUSED, ids=[r[0].replace(" ", "-") for r in REFUSED])
def test_train_refusals_name_file_key_and_allowed(problem, text, key, allowed, write_suite):
    path = write_suite(text)
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    err = info.value
    assert err.key == key, str(err)
    assert str(path) in str(err) and key in str(err)
    assert allowed in (err.allowed or ""), str(err)


def test_torch_scan_refusal_says_why(write_suite):
    with pytest.raises(SuiteError, match="keeps every token's state for autograd"):
        load_suite(write_suite(BOTH + "resolutions = [1024]\n"))


def test_infer_keeps_every_combination(write_suite):
    text = BOTH.replace('modes = ["infer", "train"]\n', "").replace('modes = ["train"]\n', "")
    text = text.replace('precisions = ["fp32"]', 'precisions = ["fp16"]\nexec_modes = ["compile"]')
    load_suite(write_suite(text + "resolutions = [1024]\n"))  # no refusal without train


def test_builtin_train_suite_loads_and_sizes_batches_per_resolution():
    suite = load_suite("train")
    cells = suite.cells()
    assert {c.mode for c in cells} == {"train"}
    assert {c.model for c in cells} == {"vim_tiny", "deit_tiny"}
    assert max(c.resolution for c in cells) == 1024 and min(c.resolution for c in cells) == 224
    batches = {c.resolution: c.batch for c in cells if c.model == "deit_tiny"}
    assert batches[224] > batches[1024]
    assert all(c.resolution <= 512 for c in cells if c.variant == "torch")


def test_mode_flag_and_dry_run(capsys):
    argv = ["run", "--model", "deit_tiny:eager", "--model", "vim_tiny:official", "--resolution", "32",
            "--batch", "2", "--precision", "fp32", "--mode", "infer,train", "--dry-run"]
    assert cli_main(argv) == 0
    out = capsys.readouterr()
    assert "deit_tiny|eager|r32|b2|fp32|eager|train" in out.out.splitlines()
    assert "deit_tiny|eager|r32|b2|fp32|eager" in out.out.splitlines()
    assert "vim_tiny:official will be error rows" in out.err and "issue 18" in out.err
    assert cli_main(argv[:-1] + ["--only", "mode=train", "--dry-run"]) == 0
    assert len(capsys.readouterr().out.split()) == 2
    assert cli_main(argv[:-3] + ["--mode", "learn", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "--mode learn" in err and "infer, train" in err


def test_mode_flag_runs_refusals_on_the_adhoc_suite(capsys):
    argv = ["run", "--model", "deit_tiny", "--resolution", "32", "--batch", "2", "--precision", "bf16",
            "--mode", "train", "--dry-run"]
    assert cli_main(argv) == 2
    assert "precisions" in capsys.readouterr().err


# --- the step ----------------------------------------------------------------------------------

def test_pooled_loss_pools_tokens_then_takes_the_mean_square():
    tokens = torch.randn(2, 5, 3)
    assert torch.allclose(pooled_loss(tokens), tokens.mean(1).square().mean())
    cls = torch.randn(2, 3)
    assert torch.allclose(pooled_loss(cls), cls.square().mean())


@pytest.mark.parametrize("model,variant", [("deit_tiny", "eager"), ("deit_tiny", "sdpa"), ("vim_tiny", "torch"),
                                           ("vim_micro", "triton-fused")])
def test_one_step_changes_the_trained_weights(model, variant):
    import_plugins((TINY_VIM_PLUGIN,))  # the Triton backward kernels at a size the interpreter runs fast
    net = vimbench.create_model(model, variant, img_size=32)
    images = torch.randn(2, 3, 32, 32)
    before = {name: p.detach().clone() for name, p in net.named_parameters()}
    step = TrainStep(net, images, autocast_dtype=None)
    loss = step()
    assert torch.isfinite(loss) and loss.ndim == 0 and not loss.requires_grad
    trained = {name for name, p in net.named_parameters() if p.grad is not None}
    assert trained and all(not name.startswith("head") for name in trained)  # forward_features skips the head
    changed = {name for name, p in net.named_parameters() if not torch.equal(p.detach(), before[name])}
    assert changed == trained
    assert step.optimizer_state_bytes() >= 2 * 4 * step.params_with_grad()  # AdamW's two fp32 moments


def test_amp_fp16_step_uses_a_grad_scaler():
    net = vimbench.create_model("deit_tiny", "eager", img_size=32)
    step = TrainStep(net, torch.randn(2, 3, 32, 32), autocast_dtype=torch.bfloat16)
    assert step.loss_scale() is None
    step = TrainStep(net, torch.randn(2, 3, 32, 32), autocast_dtype=torch.float16)
    assert step.scaler is not None


# --- train cells as rows -----------------------------------------------------------------------

def test_deit_train_cell_runs_inline_and_records_the_step():
    row = run_cell(_job(_cell("deit_tiny", "eager")))
    assert row.status == "ok", row.error
    assert row.mode == "train" and row.cell_id.endswith("|train")
    assert row.train_loss is not None and row.train_loss == row.train_loss and row.train_loss >= 0  # finite
    assert 0 < row.train_params_with_grad < row.params  # the head is not reached
    assert row.train_optimizer.startswith("AdamW")
    assert row.train_optimizer_state_bytes >= 8 * row.train_params_with_grad
    assert row.train_loss_scale is None  # fp32: no GradScaler
    assert row.n_samples == 2 and row.images_per_s > 0
    assert row.attention_backend == "explicit softmax"


def test_vim_without_backward_is_an_error_row_naming_what_is_missing():
    row = run_cell(_job(_cell("vim_tiny", "official")))
    assert row.status == "error" and row.mode == "train"
    assert row.error.startswith("train support:")
    assert "no backward pass" in row.error and "vimbench.official.build" in row.error and "issue 18" in row.error
    assert "Traceback" not in row.error and row.images_per_s is None


def test_vim_triton_routes_train():
    """The Triton routes have backward kernels: no error row (the official build alone is forward-only)."""
    assert set(vimbench.get_model_spec("vim_tiny").train_unsupported) == {"official"}
    row = run_cell(_job(_cell("vim_micro", "triton", batch=1), plugins=(TINY_VIM_PLUGIN,)))
    assert row.status == "ok", row.error
    assert row.mode == "train" and row.train_loss is not None and row.train_loss == row.train_loss
    assert 0 < row.train_params_with_grad < row.params  # all but the head
    assert row.train_optimizer.startswith("AdamW") and row.images_per_s > 0


def test_non_finite_training_loss_is_an_error():
    row = run_cell(_job(_cell("fake_nan", "v1"), plugins=(FAKE_PLUGIN,)))
    assert row.status == "error" and "training loss is not finite" in row.error


def test_infer_cell_stays_under_inference_mode():
    row = run_cell(_job(_cell("fake_ok", "v1", mode="infer"), plugins=(FAKE_PLUGIN,)))
    assert row.status == "ok" and row.mode == "infer" and row.train_loss is None


def test_rows_without_mode_read_as_infer(tmp_path):
    old = Row(cell_id="a", suite="s", model="deit_tiny", variant="sdpa", resolution=32, batch=2,
              precision="fp32").to_dict()
    for key in [k for k in old if k == "mode" or k.startswith("train_")]:
        del old[key]
    (tmp_path / "results.jsonl").write_text(json.dumps(old) + "\n")
    rows = read_rows(tmp_path / "results.jsonl").rows
    assert [r.mode for r in rows] == ["infer"]
    append_row(tmp_path / "results.jsonl", Row(**{**rows[0].to_dict(), "mode": "train", "cell_id": "b"}))
    assert [r.mode for r in read_rows(tmp_path / "results.jsonl").rows] == ["infer", "train"]


def test_train_run_end_to_end_resume_and_report(tmp_path, write_suite, capsys):
    suite = write_suite(BOTH.split("[[models]]")[0] + "[timing]\nwarmup_min_iters = 1\nwarmup_min_s = 0.0\niters = 2\n"
                        '[[models]]\nname = "deit_tiny"\nvariants = ["eager"]\n')
    runs = tmp_path / "runs"
    argv = ["run", "--suite", str(suite), "--mode", "train", "--inline", "--runs-dir", str(runs)]
    assert cli_main(argv) == 0
    run_dir = next(runs.iterdir())
    assert "modes = [\"train\"]" in (run_dir / "suite.toml").read_text()
    rows = read_rows(run_dir / "results.jsonl").rows
    assert [(r.mode, r.status) for r in rows] == [("train", "ok")]
    assert cli_main(["run", "--resume", str(run_dir)]) == 0  # nothing left to run
    assert len(read_rows(run_dir / "results.jsonl").rows) == 1
    capsys.readouterr()
    assert cli_main(["report", str(run_dir)]) == 0
    assert "No inference rows" in capsys.readouterr().out
    report = (run_dir / "report" / "report.md").read_text()
    assert "## Training (mode train)" in report and "DeiT-Ti (eager)" in report


def test_model_flag_over_a_suite_keeps_the_modes_its_entries_ran(write_suite, capsys):
    path = write_suite(BOTH.replace('modes = ["infer", "train"]\n', ""))  # deit: infer (default); vim: train
    assert cli_main(["run", "--suite", str(path), "--model", "deit_tiny:sdpa", "--dry-run"]) == 0
    assert sorted(capsys.readouterr().out.split()) == ["deit_tiny|sdpa|r32|b2|fp32|eager",
                                                       "deit_tiny|sdpa|r32|b2|fp32|eager|train"]


@pytest.mark.slow
def test_train_cell_in_a_spawned_worker():
    from vimbench.runner import run_cell_isolated

    row = run_cell_isolated(_job(_cell("deit_tiny", "eager")), timeout_s=600)
    assert row.status == "ok" and row.mode == "train" and row.train_loss is not None, row.error


def test_profile_refuses_a_suite_of_train_cells_only(capsys, tmp_path):
    assert cli_main(["profile", "--device", "cpu", "--suite", "train", "--out", str(tmp_path)]) == 2
    assert "only train cells" in capsys.readouterr().err
