"""NVML telemetry against a scripted fake NVML: snapshots, sampler, energy, process memory, throttling."""

import os
import time
import types

import pytest

from vimbench import telemetry


class FakeNVML(types.SimpleNamespace):
    NVML_CLOCK_SM, NVML_CLOCK_MEM, NVML_TEMPERATURE_GPU = 0, 1, 0

    def __init__(self, power_w=300.0, reasons=0x0, energy_counter=True, pids=()):
        super().__init__()
        self.power_w, self.reasons, self.energy_counter, self.pids = power_w, reasons, energy_counter, pids
        self.t0 = time.perf_counter()

    def nvmlDeviceGetHandleByIndex(self, index):
        return ("handle", index)

    def nvmlDeviceGetPowerUsage(self, handle):
        return int(self.power_w * 1000)

    def nvmlDeviceGetEnforcedPowerLimit(self, handle):
        return 700_000

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle):
        return self.reasons

    def nvmlDeviceGetClockInfo(self, handle, which):
        return 1980 if which == self.NVML_CLOCK_SM else 2619

    def nvmlDeviceGetMaxClockInfo(self, handle, which):
        return 1980

    def nvmlDeviceGetTemperature(self, handle, sensor):
        return 45

    def nvmlDeviceGetTotalEnergyConsumption(self, handle):
        if not self.energy_counter:
            raise RuntimeError("NVML_ERROR_NOT_SUPPORTED")
        # millijoules: the board drew power_w since t0
        return int((time.perf_counter() - self.t0) * self.power_w * 1000) + 10**9

    def nvmlDeviceGetComputeRunningProcesses(self, handle):
        return [types.SimpleNamespace(pid=p, usedGpuMemory=m) for p, m in self.pids]

    def nvmlDeviceGetMemoryInfo(self, handle):
        return types.SimpleNamespace(used=7 * 2**30, total=80 * 2**30)


@pytest.fixture
def fake_nvml(monkeypatch):
    def install(**kwargs):
        nvml = FakeNVML(**kwargs)
        monkeypatch.setattr(telemetry, "_nvml", nvml)
        monkeypatch.setattr(telemetry, "_nvml_error", None)
        return nvml
    return install


def test_without_nvml_everything_is_unknown(monkeypatch):
    monkeypatch.setattr(telemetry, "_nvml", None)
    monkeypatch.setattr(telemetry, "_nvml_error", "NVMLError_LibraryNotFound")
    assert telemetry.snapshot() == {}
    assert telemetry.process_memory() == (None, None)
    with telemetry.TelemetrySampler() as sampler:
        pass
    assert sampler.summary["n_samples"] == 0 and "unavailable" in sampler.summary["note"]
    assert telemetry.throttled({}, {}, sampler.summary) is None


def test_snapshot_decodes_reasons(fake_nvml):
    fake_nvml(power_w=412.5, reasons=0x1 | 0x4)
    snap = telemetry.snapshot(0)
    assert snap["power_w"] == 412.5 and snap["sm_clock_mhz"] == 1980 and snap["temperature_c"] == 45
    assert snap["throttle_reasons"] == ["gpu_idle", "sw_power_cap"]
    assert snap["slowdown"] is True
    assert telemetry.decode_reasons(0x200) == ["other_0x200"]


@pytest.mark.parametrize("energy_counter", [True, False], ids=["counter", "integrated"])
def test_sampler_energy_from_counter_or_integrated_power(fake_nvml, energy_counter):
    power = 250.0 + float(os.urandom(1)[0])
    fake_nvml(power_w=power, energy_counter=energy_counter)
    with telemetry.TelemetrySampler(0, interval_s=0.005) as sampler:
        time.sleep(0.2)
    s = sampler.summary
    assert s["n_samples"] >= 5
    assert s["power_w_mean"] == pytest.approx(power)
    assert s["energy_source"] == ("nvml_energy_counter" if energy_counter else "integrated_power_samples")
    assert s["energy_j"] == pytest.approx(power * s["window_s"], rel=0.05)
    assert s["slowdown_fraction"] == 0.0 and s["throttle_reasons"] == []


def test_throttled_flag_only_for_real_slowdown(fake_nvml):
    fake_nvml(reasons=0x40)  # HW thermal slowdown during the loop
    with telemetry.TelemetrySampler(0, interval_s=0.005) as sampler:
        time.sleep(0.03)
    assert sampler.summary["slowdown_fraction"] == 1.0
    idle = {"throttle_reasons": ["gpu_idle"]}
    assert telemetry.throttled(idle, idle, sampler.summary) is True
    assert telemetry.throttled(idle, idle, {"n_samples": 3, "throttle_reasons": ["gpu_idle"]}) is False


def test_process_memory_prefers_this_process_then_device_used(fake_nvml):
    fake_nvml(pids=[(os.getpid(), 3 * 2**30), (1, 5)])
    assert telemetry.process_memory(0) == (3 * 2**30, "nvml_process")
    fake_nvml(pids=[(123456789, 5)])  # our pid not visible (another PID namespace)
    assert telemetry.process_memory(0) == (7 * 2**30, "nvml_device_used")
