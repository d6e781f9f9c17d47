"""The scan kernels' configurations: each of mamba_triton's static calls
(`mamba_triton/selective_scan/static_configs.py`) run on fake H100 CUDA tensors, every
launch it makes recorded and turned into a KernelConfig named CASE/INDEX:KERNEL."""

from __future__ import annotations


def static_configs():
    from mamba_triton.selective_scan.static_configs import ELEMENTS_PER_ITERATION, static_calls

    from vimbench.staticcheck.capture import capture, to_config

    configs = []
    for case_name, description, call in static_calls():
        for index, launch in enumerate(capture(call)):
            name = launch.kernel.__name__
            configs.append(
                to_config(
                    launch,
                    f"{case_name}/{index}:{name}",
                    ELEMENTS_PER_ITERATION.get(name),
                    description=f"launch {index} of {description}",
                )
            )
    return configs
