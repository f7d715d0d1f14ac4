"""The gradient step of one update, without PyTorch's per-call bookkeeping.

``nn.utils.clip_grad_norm_`` and ``torch.optim.Adam.step`` group tensors by device and dtype,
open a profiler scope, run hooks and rebuild their lists on every call. On the small networks
of this engine that bookkeeping is a tenth of an update (CartPole: 1.75 ms -> 1.58 ms a
prioritized update, with the layers called through their kernels; docs/tuning.md). The
functions here run the very same kernels with the same arguments, so the weights are
bit-identical to the library calls (``tests/engine/test_optim.py``); what they skip is what a
single-device, single-dtype parameter list never needs.

The functional ``adam`` is private to PyTorch: its signature is the one of the PyTorch releases
the bit-equality test has run on (:data:`FAST_ADAM_TORCH`, the version CI pins). On any other
release, or if the call is refused, ``optimizer.step()`` itself runs: the same update, with
the bookkeeping.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.optim.adam import adam

#: Added to the norm before dividing, as ``nn.utils.clip_grad_norm_`` does.
CLIP_EPS = 1e-6
#: PyTorch releases (major.minor) whose private ``adam`` :func:`adam_step` calls directly.
FAST_ADAM_TORCH = ("2.13",)
_fast_adam = ".".join(torch.__version__.split(".")[:2]) in FAST_ADAM_TORCH


def total_norm(tensors: list[torch.Tensor]) -> torch.Tensor:
    """The global L2 norm ``|| (||t_1||, ..., ||t_k||) ||_2`` of tensors on one device and of one
    dtype, as ``nn.utils.get_total_norm`` computes it (call it under ``torch.no_grad()`` for
    parameters)."""
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(tensors)))


def clip_grad_norm_(grads: list[torch.Tensor], max_norm: float | None) -> torch.Tensor:
    """Scale ``grads`` in place so their global L2 norm is at most ``max_norm`` (None: leave
    them); returns the norm before scaling::

        norm = || (||g_1||, ..., ||g_k||) ||_2
        g_i <- g_i * min(max_norm / (norm + 1e-6), 1)

    The grads must share one device and dtype (one network's).
    """
    norm = total_norm(grads)
    if max_norm is not None:
        torch._foreach_mul_(grads, torch.clamp(max_norm / (norm + CLIP_EPS), max=1.0))
    return norm


def adam_step(optimizer: torch.optim.Adam, skip: torch.Tensor | None = None) -> None:
    """``optimizer.step()``, as the functional ``adam`` call it makes for each parameter group.

    ``skip``: a 0-d float tensor on the parameters' device; where it is nonzero the
    step changes nothing (parameters, moments and step counts), decided on the device by a
    fused Adam (its ``found_inf``, GradScaler's skip), so the host need not read it first.

    Falls back to ``optimizer.step()`` itself where that call does more: the first step (it
    creates the moment buffers), AMSGrad, a differentiable optimizer and complex parameters
    (where a ``skip`` is then read on the host unless the optimizer is fused).
    """
    global _fast_adam
    state = optimizer.state
    groups = [(g, [p for p in g["params"] if p.grad is not None]) for g in optimizer.param_groups]
    if not _fast_adam or any(
        g["amsgrad"]
        or g["differentiable"]
        or (skip is not None and not g["fused"])
        or any(p not in state or p.is_complex() for p in ps)
        for g, ps in groups
    ):
        _public_step(optimizer, skip)
        return
    try:
        with torch.no_grad():  # as step() runs it: the foreach kernels update leaves in place
            for group, params in groups:
                _adam_group(group, params, [state[p] for p in params], skip)
    except (TypeError, KeyError):  # a release whose private signature differs: the public step
        _fast_adam = False
        _public_step(optimizer, skip)


def _public_step(optimizer: torch.optim.Adam, skip: torch.Tensor | None) -> None:
    """``optimizer.step()``, skipped where ``skip`` is nonzero: on the device for a fused Adam
    (its ``found_inf`` attribute, as GradScaler sets it), else read on the host."""
    if skip is not None and all(g["fused"] for g in optimizer.param_groups):
        optimizer.found_inf = skip  # type: ignore[attr-defined]
        try:
            optimizer.step()
        finally:
            del optimizer.found_inf  # type: ignore[attr-defined]
    elif skip is None or not bool(skip.item()):
        optimizer.step()


def _adam_group(
    group: dict[str, Any],
    params: list[torch.Tensor],
    states: list[dict[str, Any]],
    skip: torch.Tensor | None = None,
) -> None:
    """The functional ``adam`` call ``Adam.step`` makes for one parameter group."""
    beta1, beta2 = group["betas"]
    grads = [p.grad for p in params if p.grad is not None]  # every one: the caller filtered
    adam(
        params,
        grads,
        [s["exp_avg"] for s in states],
        [s["exp_avg_sq"] for s in states],
        [],
        [s["step"] for s in states],
        amsgrad=False,
        has_complex=False,
        beta1=beta1,
        beta2=beta2,
        lr=group["lr"],
        weight_decay=group["weight_decay"],
        eps=group["eps"],
        maximize=group["maximize"],
        foreach=group["foreach"],
        capturable=group["capturable"],
        differentiable=group["differentiable"],
        fused=group["fused"],
        grad_scale=None,
        found_inf=skip,
        decoupled_weight_decay=group["decoupled_weight_decay"],
    )
