"""One training step, the timed call of a cell in mode "train" (modes.py).

    zero_grad(set_to_none=True)
    features = model.forward_features(images)      under the precision's autocast
    loss = mean(pool(features) ** 2)               pool: the mean over tokens (see pooled_loss)
    loss.backward(); AdamW step                    amp-fp16: through a GradScaler

The loss is a stand-in for a task head: a scalar that depends on every output feature, so the
backward pass runs through the whole backbone, as any real loss would, at negligible cost of
its own.  The images are one fixed random batch (no data loading is timed).  AdamW runs
torch's default implementation (foreach on CUDA) over every parameter; one that gets no
gradient (a classifier head, which forward_features never calls) is skipped by the optimizer,
as in real training of the backbone.  amp-fp16 scales the loss, as fp16 training must (small
gradients underflow in fp16); a step whose gradients overflow is skipped by the scaler, which
halves its scale: `loss_scale()` below the initial 65536 after the timed loop means some were.
The scaler reads its overflow check on the host, one sync a step, as any amp-fp16 loop does.
"""

from __future__ import annotations

import contextlib

import torch

LEARNING_RATE = 1e-4
OPTIMIZER = f"AdamW(lr={LEARNING_RATE:g}), torch's default implementation; zero_grad(set_to_none=True)"


def pooled_loss(features: torch.Tensor) -> torch.Tensor:
    """mean(pool(features) ** 2) in float32, pool = the mean over every axis between the batch and
    the last one: the tokens of a (batch, tokens, dim) map (DeiT), nothing for Vim's (batch, dim)
    cls features; for a 4-D map of a timm baseline, the axes before its last."""
    features = features[0] if isinstance(features, (tuple, list)) else features
    pooled = features.float()
    if pooled.ndim > 2:
        pooled = pooled.mean(dim=tuple(range(1, pooled.ndim - 1)))
    return pooled.square().mean()


class TrainStep:
    """`step()` runs one training step of `model` on `images` and returns the loss (detached)."""

    def __init__(self, model: torch.nn.Module, images: torch.Tensor, autocast_dtype: torch.dtype | None):
        self.model, self.images = model.train(), images
        self.device_type = images.device.type
        self.autocast_dtype = autocast_dtype
        self.optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=LEARNING_RATE)
        self.scaler = torch.amp.GradScaler(self.device_type) if autocast_dtype == torch.float16 else None

    def __call__(self) -> torch.Tensor:
        self.optimizer.zero_grad(set_to_none=True)
        with self._autocast():
            loss = pooled_loss(self.model.forward_features(self.images))
        if self.scaler is None:
            loss.backward()
            self.optimizer.step()
        else:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        return loss.detach()

    def _autocast(self):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.autocast_dtype)

    def params_with_grad(self) -> int:
        """Parameter elements holding a gradient now (after a step: the ones the loss reached)."""
        return sum(p.numel() for p in self.model.parameters() if p.grad is not None)

    def optimizer_state_bytes(self) -> int:
        """Bytes of AdamW's state (two moments per trained parameter, plus step counters)."""
        return sum(t.numel() * t.element_size() for state in self.optimizer.state.values()
                   for t in state.values() if isinstance(t, torch.Tensor))

    def loss_scale(self) -> float | None:
        """The GradScaler's scale (None without one); below its initial 65536, steps were skipped."""
        return float(self.scaler.get_scale()) if self.scaler is not None else None
