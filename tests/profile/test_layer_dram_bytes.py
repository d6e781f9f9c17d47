"""benchmarks/layer_dram_bytes.py's `table` step on a hand-written Nsight Compute CSV: launches
of one kernel are summed and divided per block, units are converted, the copy-rate floor is
bytes / rate, and a CSV without the metrics is refused."""

import importlib.util
import random

import pytest

from tests.harness.conftest import REPO_ROOT

HEADER = ('"ID","Process ID","Process Name","Host Name","Kernel Name","Context","Stream","Block Size",'
          '"Grid Size","Device","CC","Section Name","Metric Name","Metric Unit","Metric Value"\n')


def _script():
    spec = importlib.util.spec_from_file_location("layer_dram_bytes", REPO_ROOT / "benchmarks" / "layer_dram_bytes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _row(launch, kernel, metric, unit, value):
    return (f'"{launch}","1","python3","host","{kernel}","1","7","(32, 1, 1)","(12, 128, 1)","0","9.0",'
            f'"Command line profiler metrics","{metric}","{unit}","{value}"\n')


def _launch(launch, kernel, read_mb, write_kb, time_us):
    return (_row(launch, kernel, "dram__bytes_read.sum", "Mbyte", f"{read_mb:,.2f}")
            + _row(launch, kernel, "dram__bytes_write.sum", "Kbyte", f"{write_kb:,.2f}")
            + _row(launch, kernel, "gpu__time_duration.sum", "usecond", f"{time_us:,.2f}"))


def test_table_sums_launches_per_block(tmp_path, capsys):
    script = _script()
    rng = random.Random()
    draw = lambda lo, hi: round(rng.uniform(lo, hi), 2)  # as the CSV prints them
    scan = [(draw(100, 3000), draw(100, 5000), draw(50, 2000)) for _ in range(4)]
    norm = (draw(1, 50), draw(1, 50), draw(1, 30))
    text = "==PROF== Connected to process 1\n" + HEADER
    for i, (r, w, t) in enumerate(scan):
        text += _launch(i, "_bidirectional_scan_kernel(float *, float *)", r, w, t)
    text += _launch(len(scan), "void at::native::vectorized_elementwise_kernel<4, F>(int, F)", *norm)
    path = tmp_path / "ncu.csv"
    path.write_text(text)

    kernels = script.read_ncu_csv(str(path))
    scan_k = kernels["_bidirectional_scan_kernel"]
    assert scan_k["calls"] == 4
    assert scan_k["read"] == pytest.approx(sum(s[0] for s in scan) * 1e6, rel=1e-6)
    assert scan_k["write"] == pytest.approx(sum(s[1] for s in scan) * 1e3, rel=1e-6)
    assert scan_k["seconds"] == pytest.approx(sum(s[2] for s in scan) * 1e-6, rel=1e-6)
    assert kernels["void at::native::vectorized_elementwise_kernel"]["calls"] == 1

    script.main.__globals__["sys"].argv = ["x", "table", str(path), "--copy-gbs", "2000", "--blocks", "2"]
    script.main()
    out = capsys.readouterr().out
    bytes_per_block = (sum(s[0] for s in scan) * 1e6 + sum(s[1] for s in scan) * 1e3) / 2
    floor_us = bytes_per_block / 2000e9 * 1e6
    line = next(ln for ln in out.splitlines() if ln.startswith("| `_bidirectional_scan_kernel`"))
    cells = [c.strip() for c in line.split("|")]
    assert cells[2] == "4"
    assert float(cells[6]) == pytest.approx(floor_us, abs=0.051)  # printed to 0.1 us
    assert float(cells[5]) == pytest.approx(sum(s[2] for s in scan) / 2, abs=0.051)


def test_table_refuses_a_csv_without_metrics(tmp_path):
    path = tmp_path / "ncu.csv"
    path.write_text(HEADER + _row(0, "k", "sm__cycles_elapsed.avg", "cycle", "12"))
    with pytest.raises(ValueError, match="no kernel rows"):
        _script().read_ncu_csv(str(path))
