"""The (double) DQN update's two formulas, as plain functions of tensors and networks."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hrrl.engine.replay.buffer import Batch


def td_targets(
    batch: Batch, online: nn.Module, target: nn.Module, *, gamma: float, double: bool
) -> torch.Tensor:
    """The TD targets of a batch (no gradient)::

    y = r + gamma * (1 - terminated) * Q_target(s', argmax_a Q_online(s', a))   double
    y = r + gamma * (1 - terminated) * max_a Q_target(s', a)                    vanilla

    For n-step returns ``r`` is ``sum_{j<k} gamma^j r_{t+j}``, ``s'`` is ``s_{t+k}`` and the
    batch carries ``gamma^k`` per transition (``k = n``, or fewer at an episode's end), used in
    place of ``gamma``. Double DQN lets the online net pick the next action and the target net value it, so the
    max over noisy estimates no longer biases the target upwards. Truncated transitions are not
    terminated: they bootstrap like any other.
    """
    with torch.no_grad():
        next_q = target(batch.next_obs).q
        if double:
            best = online(batch.next_obs).q.argmax(dim=1, keepdim=True)
            next_v = next_q.gather(1, best).squeeze(1)
        else:
            next_v = next_q.max(dim=1).values
        discount = gamma if batch.discounts is None else batch.discounts
        return batch.rewards + discount * (1.0 - batch.terminated) * next_v


def dqn_loss(
    q_sa: torch.Tensor,
    y: torch.Tensor,
    weights: torch.Tensor | None,
    *,
    huber_delta: float,
    keep: torch.Tensor | None = None,
) -> torch.Tensor:
    """The importance-weighted Huber loss over the kept transitions::

    L = sum_i w_i * huber_delta(Q_online(s_i, a_i) - y_i) / n_kept
    huber_delta(x) = x^2 / 2                     if |x| <= delta
                     delta * (|x| - delta / 2)   otherwise

    ``w_i`` are prioritized replay's importance-sampling weights (1 for uniform replay, where
    ``weights`` is None). ``keep`` is the guard's screening mask: a screened transition has
    ``y_i = Q(s_i, a_i)`` and so a zero term, and is left out of the count ``n_kept`` (all of
    the batch when ``keep`` is None).
    """
    per_item = F.huber_loss(q_sa, y, reduction="none", delta=huber_delta)
    if weights is not None:
        per_item = per_item * weights
    if keep is None:
        return per_item.mean()
    return per_item.sum() / keep.sum().clamp(min=1)
