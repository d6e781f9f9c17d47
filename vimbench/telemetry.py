"""GPU telemetry through NVML: snapshots around a cell, a background sampler during timing.

Everything here degrades to "unknown" rather than failing: a machine without NVML (a CPU
box, some containers) gets empty dicts and None, and the reason is kept in the record.

- `snapshot(index)`: clocks, temperature, power and active throttle reasons, now.
- `TelemetrySampler(index)`: a context manager sampling power, SM clock, temperature and
  throttle reasons on a thread while the timed loop runs; on exit `summary` holds the
  aggregates and the energy used, from the board's energy counter where it has one
  (`nvmlDeviceGetTotalEnergyConsumption`), else from integrating the sampled power.
- `process_memory(index, pid)`: device memory this process holds as NVML sees it (what
  nvidia-smi shows, CUDA context included), or the device's used memory when per-process
  accounting is not visible (e.g. another PID namespace); the source is returned with it.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from typing import Any, Self

# Throttle ("clocks event") reason bits, from nvml.h.  The first group only says why the
# clock is not at its maximum for a benign reason; the second group means real slowdown.
_BENIGN_REASONS = {0x1: "gpu_idle", 0x2: "applications_clocks_setting", 0x10: "sync_boost",
                   0x100: "display_clock_setting"}
_SLOWDOWN_REASONS = {0x4: "sw_power_cap", 0x8: "hw_slowdown", 0x20: "sw_thermal_slowdown",
                     0x40: "hw_thermal_slowdown", 0x80: "hw_power_brake_slowdown"}
SLOWDOWN_REASON_NAMES = frozenset(_SLOWDOWN_REASONS.values())

_init_lock = threading.Lock()
_nvml = None          # the pynvml module once initialised
_nvml_error: str | None = None


def _get_nvml():
    """pynvml, initialised once per process; None (and `nvml_error()` says why) if unusable."""
    global _nvml, _nvml_error
    with _init_lock:
        if _nvml is not None or _nvml_error is not None:
            return _nvml
        try:
            import pynvml

            pynvml.nvmlInit()
            _nvml = pynvml
        except Exception as exc:  # noqa: BLE001 - ImportError, NVMLError (no driver), OSError (no library)
            _nvml_error = f"{type(exc).__name__}: {exc}"
        return _nvml


def nvml_error() -> str | None:
    _get_nvml()
    return _nvml_error


def nvml_available() -> bool:
    return _get_nvml() is not None


def device_index() -> int:
    """NVML index of the device torch uses as cuda:0 (NVML ignores CUDA_VISIBLE_DEVICES)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip()
    return int(visible) if visible.isdigit() else 0


def _handle(index: int):
    nvml = _get_nvml()
    return None if nvml is None else nvml.nvmlDeviceGetHandleByIndex(index)


def decode_reasons(mask: int) -> list[str]:
    names = [name for bit, name in {**_BENIGN_REASONS, **_SLOWDOWN_REASONS}.items() if mask & bit]
    unknown = mask & ~sum({**_BENIGN_REASONS, **_SLOWDOWN_REASONS})
    if unknown:
        names.append(f"other_0x{unknown:x}")
    return names


def _reasons_mask(nvml, handle) -> int:
    getter = getattr(nvml, "nvmlDeviceGetCurrentClocksEventReasons", None) or \
        nvml.nvmlDeviceGetCurrentClocksThrottleReasons
    return int(getter(handle))


def _try(fn, *args):
    try:
        return fn(*args)
    except Exception:  # noqa: BLE001 - telemetry is best effort; unknown is None
        return None


def snapshot(index: int | None = None) -> dict[str, Any]:
    """Clocks (MHz), temperature (C), power (W) and throttle reasons now; {} without NVML."""
    nvml = _get_nvml()
    if nvml is None:
        return {}
    index = device_index() if index is None else index
    handle = _handle(index)
    power_mw = _try(nvml.nvmlDeviceGetPowerUsage, handle)
    limit_mw = _try(nvml.nvmlDeviceGetEnforcedPowerLimit, handle)
    mask = _try(_reasons_mask, nvml, handle)
    reasons = decode_reasons(mask) if mask is not None else None
    return {
        "time": time.time(),
        "sm_clock_mhz": _try(nvml.nvmlDeviceGetClockInfo, handle, nvml.NVML_CLOCK_SM),
        "mem_clock_mhz": _try(nvml.nvmlDeviceGetClockInfo, handle, nvml.NVML_CLOCK_MEM),
        "sm_clock_max_mhz": _try(nvml.nvmlDeviceGetMaxClockInfo, handle, nvml.NVML_CLOCK_SM),
        "temperature_c": _try(nvml.nvmlDeviceGetTemperature, handle, nvml.NVML_TEMPERATURE_GPU),
        "power_w": None if power_mw is None else power_mw / 1000.0,
        "power_limit_w": None if limit_mw is None else limit_mw / 1000.0,
        "throttle_reasons": reasons,
        "slowdown": None if reasons is None else bool(SLOWDOWN_REASON_NAMES.intersection(reasons)),
    }


def total_energy_j(index: int | None = None) -> float | None:
    """The board's energy counter since driver load, in joules (None where unsupported)."""
    nvml = _get_nvml()
    if nvml is None:
        return None
    handle = _handle(device_index() if index is None else index)
    mj = _try(nvml.nvmlDeviceGetTotalEnergyConsumption, handle)
    return None if mj is None else mj / 1000.0


class TelemetrySampler:
    """Sample power, SM clock, temperature and throttle reasons on a thread.

        with TelemetrySampler() as sampler:
            ... timed work, synchronised before leaving the block ...
        sampler.summary  # {"n_samples", "power_w_mean", ..., "energy_j", "energy_source"}

    Without NVML the block runs unobserved and `summary` says so.
    """

    def __init__(self, index: int | None = None, interval_s: float = 0.02):
        self.index = device_index() if index is None else index
        self.interval_s = interval_s
        self.samples: list[dict[str, Any]] = []
        self.summary: dict[str, Any] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._energy_start: float | None = None
        self._t_start = self._t_end = 0.0

    def __enter__(self) -> Self:
        if not nvml_available():
            return self
        self._energy_start = total_energy_j(self.index)
        self._t_start = time.perf_counter()
        self._thread = threading.Thread(target=self._loop, name="vimbench-telemetry", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        nvml = _get_nvml()
        handle = _handle(self.index)
        while not self._stop.is_set():
            power_mw = _try(nvml.nvmlDeviceGetPowerUsage, handle)
            mask = _try(_reasons_mask, nvml, handle)
            self.samples.append({
                "t": time.perf_counter(),
                "power_w": None if power_mw is None else power_mw / 1000.0,
                "sm_clock_mhz": _try(nvml.nvmlDeviceGetClockInfo, handle, nvml.NVML_CLOCK_SM),
                "temperature_c": _try(nvml.nvmlDeviceGetTemperature, handle, nvml.NVML_TEMPERATURE_GPU),
                "reasons": 0 if mask is None else mask,
            })
            self._stop.wait(self.interval_s)

    def __exit__(self, *exc_info) -> None:
        if self._thread is None:
            self.summary = {"n_samples": 0, "note": f"NVML unavailable: {nvml_error()}"}
            return
        self._t_end = time.perf_counter()
        energy_end = total_energy_j(self.index)
        self._stop.set()
        self._thread.join()
        self.summary = self._summarize(energy_end)

    def _summarize(self, energy_end: float | None) -> dict[str, Any]:
        window_s = self._t_end - self._t_start
        out: dict[str, Any] = {"n_samples": len(self.samples), "window_s": window_s}
        for key in ("power_w", "sm_clock_mhz", "temperature_c"):
            values = [s[key] for s in self.samples if s[key] is not None]
            if values:
                out[f"{key}_mean"] = sum(values) / len(values)
                out[f"{key}_min"] = min(values)
                out[f"{key}_max"] = max(values)
        mask = 0
        slowdown_samples = 0
        slowdown_bits = sum(_SLOWDOWN_REASONS)
        for s in self.samples:
            mask |= s["reasons"]
            slowdown_samples += bool(s["reasons"] & slowdown_bits)
        out["throttle_reasons"] = decode_reasons(mask)
        out["slowdown_fraction"] = slowdown_samples / len(self.samples) if self.samples else None
        if self._energy_start is not None and energy_end is not None and energy_end > self._energy_start:
            out["energy_j"] = energy_end - self._energy_start
            out["energy_source"] = "nvml_energy_counter"
        else:
            out["energy_j"] = _integrate_power(self.samples, self._t_start, self._t_end)
            out["energy_source"] = "integrated_power_samples" if out["energy_j"] is not None else None
        return out


def _integrate_power(samples: list[dict[str, Any]], t_start: float, t_end: float) -> float | None:
    """Trapezoid integral of sampled power over [t_start, t_end], held flat at the ends."""
    points = [(s["t"], s["power_w"]) for s in samples if s["power_w"] is not None]
    if not points:
        return None
    points = [(t_start, points[0][1])] + points + [(t_end, points[-1][1])]
    return sum((t1 - t0) * (p0 + p1) / 2.0 for (t0, p0), (t1, p1) in itertools.pairwise(points))


def process_memory(index: int | None = None, pid: int | None = None) -> tuple[int | None, str | None]:
    """(bytes, source): this process's device memory per NVML, else the device's used memory."""
    nvml = _get_nvml()
    if nvml is None:
        return None, None
    handle = _handle(device_index() if index is None else index)
    pid = os.getpid() if pid is None else pid
    for getter_name in ("nvmlDeviceGetComputeRunningProcesses_v3", "nvmlDeviceGetComputeRunningProcesses"):
        getter = getattr(nvml, getter_name, None)
        procs = _try(getter, handle) if getter else None
        if procs is None:
            continue
        for proc in procs:
            used = getattr(proc, "usedGpuMemory", None)
            if proc.pid == pid and used is not None:
                return int(used), "nvml_process"
        break
    info = _try(nvml.nvmlDeviceGetMemoryInfo, handle)
    return (int(info.used), "nvml_device_used") if info is not None else (None, None)


def device_info(index: int | None = None) -> dict[str, Any]:
    """Static facts about the GPU and driver; {"nvml_error": ...} without NVML."""
    nvml = _get_nvml()
    if nvml is None:
        return {"nvml_error": nvml_error()}
    index = device_index() if index is None else index
    handle = _handle(index)

    def text(value):
        return value.decode() if isinstance(value, bytes) else value

    cuda_driver = _try(nvml.nvmlSystemGetCudaDriverVersion)
    mem = _try(nvml.nvmlDeviceGetMemoryInfo, handle)
    limit_mw = _try(nvml.nvmlDeviceGetEnforcedPowerLimit, handle)
    return {
        "nvml_index": index,
        "device_count": _try(nvml.nvmlDeviceGetCount),
        "name": text(_try(nvml.nvmlDeviceGetName, handle)),
        "uuid": text(_try(nvml.nvmlDeviceGetUUID, handle)),
        "driver_version": text(_try(nvml.nvmlSystemGetDriverVersion)),
        "cuda_driver_version": None if cuda_driver is None else f"{cuda_driver // 1000}.{cuda_driver % 1000 // 10}",
        "nvml_version": text(_try(nvml.nvmlSystemGetNVMLVersion)),
        "memory_total_bytes": None if mem is None else int(mem.total),
        "power_limit_w": None if limit_mw is None else limit_mw / 1000.0,
        "sm_clock_max_mhz": _try(nvml.nvmlDeviceGetMaxClockInfo, handle, nvml.NVML_CLOCK_SM),
        "mem_clock_max_mhz": _try(nvml.nvmlDeviceGetMaxClockInfo, handle, nvml.NVML_CLOCK_MEM),
        "energy_counter": _try(nvml.nvmlDeviceGetTotalEnergyConsumption, handle) is not None,
    }


def throttled(before: dict[str, Any], after: dict[str, Any], during: dict[str, Any]) -> bool | None:
    """True if any real slowdown reason (power cap, thermal, HW slowdown) was seen; None if unknown."""
    seen = []
    for snap in (before, after):
        if snap.get("throttle_reasons") is not None:
            seen.extend(snap["throttle_reasons"])
    if during.get("n_samples"):
        seen.extend(during.get("throttle_reasons") or [])
    elif not before and not after:
        return None
    return bool(SLOWDOWN_REASON_NAMES.intersection(seen))
