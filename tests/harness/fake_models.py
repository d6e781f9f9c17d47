"""Test-only models that fail the ways a real cell can, loaded by suites as a plugin.

    plugins = ["tests.harness.fake_models"]

Each is a 16 px patch embedding whose `forward_features` misbehaves on purpose:
  fake_ok     works
  fake_oom    raises torch.OutOfMemoryError when the batch exceeds OOM_ABOVE_BATCH
  fake_error  raises RuntimeError
  fake_nan    returns NaN in one element
  fake_crash  kills its process (os._exit) - only for isolated runs
  fake_slow   sleeps SLOW_S per call (to interrupt a sweep mid-way)
  fake_pinned raises RuntimeError naming its CUDA_VISIBLE_DEVICES (which GPU a worker was pinned to)
  fake_hang   the first process to call it writes its pid to $VIMBENCH_TEST_PIDFILE and hangs
              (for a test to SIGKILL it); later calls work
"""

import os
import time

import torch
from torch import nn

from vimbench.models.registry import ModelSpec, model_names, register_model

OOM_ABOVE_BATCH = 4
SLOW_S = 0.15
BEHAVIOURS = ("ok", "oom", "error", "nan", "crash", "slow", "pinned", "hang")
HANG_S = 60.0


def _claim_pidfile() -> bool:
    """True for the one process that creates the pid file (exclusive create: no race)."""
    try:
        with open(os.environ["VIMBENCH_TEST_PIDFILE"], "x") as fh:
            fh.write(str(os.getpid()))
    except FileExistsError:
        return False
    return True


class FakeBackbone(nn.Module):
    def __init__(self, behaviour: str, img_size: int):
        super().__init__()
        self.behaviour = behaviour
        self.img_size = img_size
        self.proj = nn.Conv2d(3, 8, kernel_size=16, stride=16)

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        if self.behaviour == "oom" and images.shape[0] > OOM_ABOVE_BATCH:
            raise torch.OutOfMemoryError(f"CUDA out of memory. Tried to allocate {images.shape[0]} GiB (fake)")
        if self.behaviour == "error":
            raise RuntimeError("fake failure: kaboom")
        if self.behaviour == "crash":
            os._exit(7)
        if self.behaviour == "pinned":
            raise RuntimeError(f"pinned to CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')}")
        if self.behaviour == "hang" and _claim_pidfile():
            time.sleep(HANG_S)
        if self.behaviour == "slow":
            time.sleep(SLOW_S)
        tokens = self.proj(images).flatten(2).transpose(1, 2)
        if self.behaviour == "nan":
            tokens = tokens.clone()
            tokens[0, 0, 0] = float("nan")
        return tokens


for _behaviour in BEHAVIOURS:
    if f"fake_{_behaviour}" not in model_names():
        register_model(ModelSpec(
            name=f"fake_{_behaviour}", family="fake", variant_kind="attention", variants=("v1", "v2"),
            default_variant="v1", patch_size=16,
            builder=lambda variant, img_size, _b=_behaviour: FakeBackbone(_b, img_size),
            description=f"test-only model: {_behaviour}",
        ))
