"""Normalization layers: ``FrozenBatchNorm2d``, ``NaiveSyncBatchNorm``, ``LayerNorm`` and ``get_norm``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import cast

import torch
import torch.distributed as dist
from torch import nn
from torch.nn import functional as F

from .wrappers import BatchNorm2d

__all__ = ["CycleBatchNormList", "FrozenBatchNorm2d", "LayerNorm", "NaiveSyncBatchNorm", "get_norm"]

logger = logging.getLogger(__name__)


class FrozenBatchNorm2d(nn.Module):
    """BatchNorm2d whose statistics and affine parameters are fixed buffers.

    Computes ``(x - running_mean) / sqrt(running_var + eps) * weight + bias``. Buffers start
    as the identity transform. Caffe2-converted backbones carry only ``weight`` and ``bias``
    (the four BN parameters folded together); their missing running stats stay identity.

    ``_version`` 3 matches detectron2: checkpoints saved at version < 2 lack the running
    stats, and at version < 3 stored ``running_var`` already including ``eps``.
    """

    _version = 3
    weight: torch.Tensor
    bias: torch.Tensor
    running_mean: torch.Tensor
    running_var: torch.Tensor
    num_batches_tracked: torch.Tensor | None

    def __init__(self, num_features: int, eps: float = 1e-5):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.register_buffer("weight", torch.ones(num_features))
        self.register_buffer("bias", torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features) - eps)
        # None (left out of the state dict) unless converted from a BatchNorm, whose count it keeps:
        # detectron2's state dicts have it exactly for the norms frozen by conversion.
        self.register_buffer("num_batches_tracked", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 2 or x.shape[1] != self.num_features:
            raise ValueError(
                f"FrozenBatchNorm2d({self.num_features}) expects input of shape (N, {self.num_features}, ...), "
                f"got shape {tuple(x.shape)}"
            )
        if x.requires_grad:
            # Affine form keeps the graph simple and lets autograd reach x only.
            scale, bias = self.scale_and_shift()
            shape = (1, -1) + (1,) * (x.dim() - 2)
            return x * scale.reshape(shape).to(x.dtype) + bias.reshape(shape).to(x.dtype)
        return F.batch_norm(
            x, self.running_mean, self.running_var, self.weight, self.bias, training=False, eps=self.eps
        )

    def scale_and_shift(self) -> tuple[torch.Tensor, torch.Tensor]:
        """This norm as ``x * scale + shift`` per channel; ``Conv2d`` folds it into its weights."""
        scale = self.weight * (self.running_var + self.eps).rsqrt()
        return scale, self.bias - self.running_mean * scale

    def _load_from_state_dict(
        self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
    ):
        version = local_metadata.get("version", None)
        if version is None or version < 2:
            # Early versions had no running stats: default to identity, silently.
            if prefix + "running_mean" not in state_dict:
                state_dict[prefix + "running_mean"] = torch.zeros_like(self.running_mean)
            if prefix + "running_var" not in state_dict:
                state_dict[prefix + "running_var"] = torch.ones_like(self.running_var)
        if version is not None and version < 3:
            logger.info("FrozenBatchNorm %s is upgraded to version 3.", prefix.rstrip("."))
            # Before version 3, running_var was used without adding eps.
            state_dict[prefix + "running_var"] = state_dict[prefix + "running_var"] - self.eps
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )

    def __repr__(self) -> str:
        return f"FrozenBatchNorm2d(num_features={self.num_features}, eps={self.eps})"

    @classmethod
    def convert_frozen_batchnorm(cls, module: nn.Module) -> nn.Module:
        """Replace every ``BatchNorm2d``/``SyncBatchNorm`` in ``module`` by a ``FrozenBatchNorm2d``.

        Returns a new module when ``module`` itself is a BatchNorm; otherwise converts its
        children in place and returns ``module``.
        """
        if isinstance(module, (nn.BatchNorm2d, nn.SyncBatchNorm)):
            if module.running_mean is None or module.running_var is None:
                raise ValueError(
                    f"convert_frozen_batchnorm: {module} has no running statistics "
                    "(track_running_stats=False), so there is nothing to freeze"
                )
            frozen = cls(module.num_features)
            if module.affine:
                assert module.weight is not None and module.bias is not None  # affine BN has both
                frozen.weight.data = module.weight.data.clone().detach()
                frozen.bias.data = module.bias.data.clone().detach()
            frozen.running_mean.data = module.running_mean.data
            frozen.running_var.data = module.running_var.data
            frozen.eps = module.eps
            frozen.num_batches_tracked = module.num_batches_tracked
            return frozen
        for name, child in module.named_children():
            new_child = cls.convert_frozen_batchnorm(child)
            if new_child is not child:
                module.add_module(name, new_child)
        return module

    @classmethod
    def convert_frozenbatchnorm2d_to_batchnorm2d(cls, module: nn.Module) -> nn.Module:
        """The inverse of :meth:`convert_frozen_batchnorm`: every ``FrozenBatchNorm2d`` becomes a
        ``BatchNorm2d`` with the same statistics and affine values (e.g. to fine-tune or quantize)."""
        if isinstance(module, FrozenBatchNorm2d):
            bn = nn.BatchNorm2d(module.num_features, module.eps)
            with torch.no_grad():  # a BatchNorm2d built this way has all four tensors
                bn.weight.copy_(module.weight)
                bn.bias.copy_(module.bias)
                bn.register_buffer("running_mean", module.running_mean.clone().detach())
                bn.register_buffer("running_var", module.running_var.clone().detach())
            if module.num_batches_tracked is not None:
                bn.register_buffer("num_batches_tracked", module.num_batches_tracked)
            return bn
        for name, child in module.named_children():
            new_child = cls.convert_frozenbatchnorm2d_to_batchnorm2d(child)
            if new_child is not child:
                module.add_module(name, new_child)
        return module


class _AllReduceSum(torch.autograd.Function):
    """Sum a tensor over all workers; the gradient is summed the same way (fvcore's semantics)."""

    @staticmethod
    def forward(ctx, input: torch.Tensor) -> torch.Tensor:
        gathered = [torch.zeros_like(input) for _ in range(dist.get_world_size())]
        dist.all_gather(gathered, input, async_op=False)
        return torch.stack(gathered, dim=0).sum(dim=0)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor) -> torch.Tensor:
        grad_output = grad_output.clone()
        dist.all_reduce(grad_output, async_op=False)
        return grad_output


def _world_size() -> int:
    if not dist.is_available() or not dist.is_initialized():
        return 1
    return dist.get_world_size()


def differentiable_all_reduce(input: torch.Tensor) -> torch.Tensor:
    """All-reduce (sum) that autograd can differentiate through; identity with one worker."""
    if _world_size() == 1:
        return input
    return _AllReduceSum.apply(input)


class NaiveSyncBatchNorm(BatchNorm2d):
    """Synchronized BatchNorm built from all-reduces of per-worker mean and mean of squares.

    ``stats_mode=""`` weights each worker equally (no zero batch); ``stats_mode="N"`` weights
    workers by their batch size and supports empty batches. With one worker, or in eval
    mode, it is a plain ``BatchNorm2d``.
    """

    def __init__(self, *args, stats_mode: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        if stats_mode not in ("", "N"):
            raise ValueError(f'NaiveSyncBatchNorm: stats_mode must be "" or "N", got {stats_mode!r}')
        self._stats_mode = stats_mode

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if _world_size() == 1 or not self.training:
            return super().forward(input)
        if self.weight is None or self.bias is None or self.running_mean is None or self.running_var is None:
            raise ValueError(
                "NaiveSyncBatchNorm: training with more than one worker needs affine=True and track_running_stats=True"
            )
        if self.momentum is None:
            raise ValueError(
                "NaiveSyncBatchNorm: momentum=None (cumulative average) is not supported with more than one worker"
            )

        batch_size, channels = input.shape[0], input.shape[1]
        half_input = input.dtype == torch.float16
        if half_input:
            input = input.float()  # fp16 is too coarse for the reduction
        mean = torch.mean(input, dim=[0, 2, 3])
        meansqr = torch.mean(input * input, dim=[0, 2, 3])

        if self._stats_mode == "":
            if batch_size == 0:
                raise ValueError('NaiveSyncBatchNorm(stats_mode="") does not support zero batch size')
            vec = differentiable_all_reduce(torch.cat([mean, meansqr], dim=0)) * (1.0 / dist.get_world_size())
            mean, meansqr = torch.split(vec, channels)
            momentum: float | torch.Tensor = self.momentum
        else:
            if batch_size == 0:
                vec = torch.zeros([2 * channels + 1], device=mean.device, dtype=mean.dtype)
                vec = vec + input.sum()  # keep a gradient path to input
            else:
                ones = torch.ones([1], device=mean.device, dtype=mean.dtype)
                vec = torch.cat([mean, meansqr, ones], dim=0)
            vec = differentiable_all_reduce(vec * batch_size)
            total_batch = vec[-1].detach()
            momentum = total_batch.clamp(max=1) * self.momentum  # no update when every batch is empty
            mean, meansqr, _ = torch.split(vec / total_batch.clamp(min=1), channels)

        var = meansqr - mean * mean
        invstd = torch.rsqrt(var + self.eps)
        scale = self.weight * invstd
        bias = self.bias - mean * scale
        self.running_mean += momentum * (mean.detach() - self.running_mean)
        self.running_var += momentum * (var.detach() - self.running_var)
        out = input * scale.reshape(1, -1, 1, 1) + bias.reshape(1, -1, 1, 1)
        return out.half() if half_input else out


class CycleBatchNormList(nn.ModuleList):
    """Domain-specific BatchNorm: ``length`` BN layers used in turn, one per forward call.

    The affine parameters are shared (unless ``affine=False``); each BN keeps its own
    statistics. Callers must call it a multiple of ``length`` times.
    """

    def __init__(self, length: int, bn_class: type[nn.Module] = nn.BatchNorm2d, **kwargs):
        self._affine = kwargs.pop("affine", True)
        super().__init__([bn_class(**kwargs, affine=False) for _ in range(length)])
        if self._affine:
            channels = cast(int, self[0].num_features)  # every norm layer of torch has num_features
            self.weight = nn.Parameter(torch.ones(channels))
            self.bias = nn.Parameter(torch.zeros(channels))
        self._pos = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self[self._pos](x)
        self._pos = (self._pos + 1) % len(self)
        if self._affine:
            return out * self.weight.reshape(1, -1, 1, 1) + self.bias.reshape(1, -1, 1, 1)
        return out

    def extra_repr(self) -> str:
        return f"affine={self._affine}"


class LayerNorm(nn.Module):
    """LayerNorm over the channel dimension of (N, C, H, W) inputs (ConvNeXt style)."""

    def __init__(self, normalized_shape: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(normalized_shape))
        self.bias = nn.Parameter(torch.zeros(normalized_shape))
        self.eps = eps
        self.normalized_shape = (normalized_shape,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(1, keepdim=True)
        var = (x - mean).pow(2).mean(1, keepdim=True)
        x = (x - mean) / torch.sqrt(var + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


_NORMS: dict[str, Callable[[int], nn.Module]] = {
    "BN": BatchNorm2d,
    "SyncBN": nn.SyncBatchNorm,
    "FrozenBN": FrozenBatchNorm2d,
    "GN": lambda channels: nn.GroupNorm(32, channels),
    "nnSyncBN": nn.SyncBatchNorm,
    "naiveSyncBN": NaiveSyncBatchNorm,
    "naiveSyncBN_N": lambda channels: NaiveSyncBatchNorm(channels, stats_mode="N"),
    "LN": LayerNorm,
}


def get_norm(norm: str | Callable[[int], nn.Module] | None, out_channels: int) -> nn.Module | None:
    """Build a normalization layer for ``out_channels`` channels.

    ``norm`` is one of "BN", "SyncBN", "FrozenBN", "GN", "nnSyncBN", "naiveSyncBN",
    "naiveSyncBN_N", "LN", a callable taking the channel count, or ""/None for no norm.
    """
    if norm is None:
        return None
    if isinstance(norm, str):
        if len(norm) == 0:
            return None
        if norm not in _NORMS:
            raise ValueError(f"get_norm: unknown norm {norm!r}; known names are {sorted(_NORMS)} or a callable")
        norm = _NORMS[norm]
    elif not callable(norm):
        raise TypeError(f"get_norm: `norm` must be a string, a callable or None, got {type(norm).__name__}")
    return norm(out_channels)
