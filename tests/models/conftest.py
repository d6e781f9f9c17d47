"""Fixtures shared by the model tests."""

import pytest
import torch


@pytest.fixture
def no_tf32():
    """fp32 means fp32 on a GPU too: TF32 in a conv or matmul would swamp a 1e-5 comparison."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved
