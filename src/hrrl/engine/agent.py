"""The DQN agent: epsilon-greedy acting, the (double) DQN update, target-network sync, state.

Generic: it sees observation vectors and action indices, nothing else, so it runs on any
Gymnasium environment with a discrete action space (CartPole included).
"""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from hrrl.config import check_choice, check_int, check_range
from hrrl.engine.dqn import dqn_loss, td_targets
from hrrl.engine.guard import NULL_GUARD, UpdateGuard
from hrrl.engine.networks import (
    CONV_DTYPE_CHOICES,
    NETWORK_KINDS,
    make_network,
    resolve_conv_dtype,
    width_free,
)
from hrrl.engine.optim import adam_step, clip_grad_norm_
from hrrl.engine.replay.buffer import Batch
from hrrl.errors import ConfigError, field_error

#: Version of the layout :meth:`DQNAgent.meta_state` / :meth:`DQNAgent.tensor_state` write.
STATE_VERSION = 1


#: The widest hidden layer a config may ask for: 16,384^2 float32 weights are 1 GiB, and a
#: typo of a few more digits would otherwise end in an allocator's traceback.
MAX_HIDDEN = 16_384


@dataclass(frozen=True, kw_only=True)
class AgentConfig:
    """The Q-network and its update rule."""

    network: Literal["phase_adaptive", "mlp", "slots", "set", "cnn"] = "phase_adaptive"
    """Q-network: for the number puzzle "phase_adaptive" (3 heads mixed by a phase classifier),
    "slots" (one scorer shared by every action, the observation being one equal block per
    action) or "set" (the same scorer beside a max-pooled summary of the whole set); for a Gymnasium task "mlp" (vector observations) or "cnn" (grids, MinAtar)."""
    hidden: int = 256
    """Units in each hidden layer (at most 16,384: a square layer of that width is 1 GiB)."""
    lr: float = 5e-4
    """Adam learning rate."""
    lr_end: float | None = None
    """Adam learning rate reached linearly from ``lr`` at ``train.total_env_steps`` (a run resumed
    with a larger budget anneals over the new one from where it is); null: ``lr`` throughout."""
    gamma: float = 0.99
    """Discount factor."""
    batch_size: int = 64
    """Transitions per learning step."""
    double: bool = True
    """Double DQN target (online net picks a', target net values it); false = vanilla max."""
    n_step: int = 1
    """Steps of reward folded into each target (n-step returns); 1 = one-step DQN."""
    dueling: bool = False
    """Dueling head (mlp and cnn): Q(s, a) = V(s) + A(s, a) - mean_a' A(s, a')."""
    conv_dtype: Literal["float32", "bfloat16", "auto"] = "float32"
    """Arithmetic of a ``cnn``'s convolutions, in acting and learning alike: "float32";
    "bfloat16" under ``torch.autocast`` (the weights, the gradients, Adam and the layers after
    the convolutions stay float32); "auto" (the Atari presets): bfloat16 where the device
    computes in it (a CUDA GPU; a CPU with AVX512-BF16 or AMX, where the Nature CNN's update at
    batch 32 on one thread takes about 0.7 of the float32 time), float32 elsewhere (a CPU
    without those instructions emulates bfloat16, slower than float32). A run resumed on
    another machine may so change its arithmetic."""
    max_grad_norm: float | None = 10.0
    """Clip the global gradient L2 norm to this; null = no clipping."""
    huber_delta: float = 1.0
    """Huber loss threshold: quadratic below, linear above."""
    target_update: Literal["hard", "soft"] = "soft"
    """Target sync: "hard" (copy) or "soft" (Polyak: target <- (1 - tau) target + tau online)."""
    target_update_interval: int = 200
    """Learning steps between target syncs (hard copies or soft steps)."""
    tau: float = 0.005
    """Polyak coefficient of a soft sync."""

    def __post_init__(self) -> None:
        check_choice("agent.network", self.network, NETWORK_KINDS)
        for name in ("batch_size", "target_update_interval"):
            check_int(f"agent.{name}", getattr(self, name), low=1)
        check_int("agent.hidden", self.hidden, low=1, high=MAX_HIDDEN)
        check_int("agent.n_step", self.n_step, low=1, high=100)
        if not isinstance(self.dueling, bool):
            raise field_error(ConfigError, "agent.dueling", self.dueling, "use true or false")
        if self.dueling and self.network not in ("mlp", "cnn"):
            raise field_error(
                ConfigError,
                "agent.dueling",
                self.dueling,
                "a dueling head needs network=mlp or cnn",
            )
        check_range("agent.lr", self.lr, low=0.0, high=1.0, low_open=True)
        if self.lr_end is not None:
            check_range("agent.lr_end", self.lr_end, low=0.0, high=1.0)
        check_range("agent.gamma", self.gamma, low=0.0, high=1.0)
        if not isinstance(self.double, bool):
            raise field_error(ConfigError, "agent.double", self.double, "use true or false")
        check_choice("agent.conv_dtype", self.conv_dtype, CONV_DTYPE_CHOICES)
        if self.conv_dtype != "float32" and self.network != "cnn":
            raise field_error(
                ConfigError,
                "agent.conv_dtype",
                self.conv_dtype,
                "only network=cnn has convolutions: set agent.network=cnn or agent.conv_dtype=float32",
            )
        if self.max_grad_norm is not None:
            check_range("agent.max_grad_norm", self.max_grad_norm, low=0.0, low_open=True)
            if math.isinf(self.max_grad_norm):
                raise field_error(
                    ConfigError, "agent.max_grad_norm", self.max_grad_norm, "use null for no clip"
                )
        check_range("agent.huber_delta", self.huber_delta, low=0.0, low_open=True)
        check_choice("agent.target_update", self.target_update, ("hard", "soft"))
        check_range("agent.tau", self.tau, low=0.0, high=1.0, low_open=True)


@dataclass(frozen=True)
class LearnStats:
    """What one learning step did.

    ``td_errors`` are ``|Q(s, a) - y|`` per transition, for the replay's priorities; when
    ``applied`` is false the guard refused the step (``anomaly`` says why) and they should not be
    fed back. ``grad_norm`` is the norm before clipping. ``q_mean`` is the mean of ``Q(s, a)``
    over the batch, ``q_max`` the largest ``Q(s, .)``.
    """

    loss: float
    td_errors: np.ndarray
    grad_norm: float
    q_mean: float
    q_max: float
    applied: bool
    anomaly: str | None


class DQNAgent:
    """Online and target Q-networks, Adam, epsilon-greedy acting, and the ``guard`` of every
    update (:func:`~hrrl.engine.guard.make_guard`; the default never refuses).

    The training loop calls ``act`` to collect, ``learn(batch)`` to update, then
    ``after_update()`` to tick the target-sync clock. All randomness comes from ``seed``:
    network initialisation from a ``torch.Generator``, exploration from a NumPy ``Generator``,
    so two agents built with the same seed and fed the same batches hold bit-identical weights
    (on CPU). ``torch.set_num_threads`` is left to the caller.
    """

    def __init__(
        self,
        *,
        obs_dim: int,
        n_actions: int,
        config: AgentConfig,
        seed: int,
        device: str | torch.device = "cpu",
        guard: UpdateGuard = NULL_GUARD,
        obs_shape: tuple[int, ...] | None = None,
    ) -> None:
        """``obs_shape``: the observation's shape before flattening (a ``cnn`` needs it)."""
        for name, value in (("obs_dim", obs_dim), ("n_actions", n_actions)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r} is invalid: it must be an integer >= 1")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed={seed!r} is invalid: it must be an integer >= 0")
        self.obs_dim = obs_dim
        self.obs_shape = tuple(obs_shape) if obs_shape is not None else (obs_dim,)
        self.n_actions = n_actions
        self.config = config
        self.device = torch.device(device)
        gen = torch.Generator().manual_seed(seed)
        self.online = make_network(
            config.network,
            obs_dim=obs_dim,
            n_actions=n_actions,
            hidden=config.hidden,
            dueling=config.dueling,
            conv_dtype=resolve_conv_dtype(config.conv_dtype, self.device),
            obs_shape=self.obs_shape,
            generator=gen,
        ).to(self.device)
        self.target = copy.deepcopy(self.online).requires_grad_(False)
        # Parameter lists walked once: module.parameters() is a generator over the module tree.
        self._online_params: list[torch.Tensor] = list(self.online.parameters())
        self._target_params: list[torch.Tensor] = list(self.target.parameters())
        # fused Adam: one kernel for the whole update (measured 1.14x updates/s at batch 64).
        self.optimizer = torch.optim.Adam(self._online_params, lr=config.lr, fused=True)
        self.rng = np.random.default_rng(seed)
        self.guard = guard
        guard.attach(self.online, self.target, self.optimizer)
        self.n_learn = 0  # learn() calls
        self.n_applied = 0  # of which the guard let through
        self.n_updates = 0  # after_update() calls: the target-sync clock
        self.n_target_syncs = 0

    # --- acting -------------------------------------------------------------------------------
    def q_values(self, obs: np.ndarray) -> np.ndarray:
        """``Q(obs, .)`` as a float32 array ``(B, n_actions)``."""
        x = self._obs_tensor(obs)
        with torch.inference_mode():
            return self.online(x).q.float().cpu().numpy()

    def act(self, obs: np.ndarray, epsilon: float) -> np.ndarray:
        """Epsilon-greedy actions (int64, ``(B,)``) for a batch of observations ``(B, obs_dim)``.

        Draws the exploration coin and a random action for every row whatever ``epsilon`` is,
        so the RNG stream does not depend on the schedule's value.
        """
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"epsilon={epsilon!r} is invalid: it must be in [0, 1]")
        x = self._obs_tensor(obs)
        n = x.shape[0]
        explore = self.rng.random(n) < epsilon
        random_actions = self.rng.integers(self.n_actions, size=n, dtype=np.int64)
        if explore.all():
            return random_actions
        with torch.inference_mode():
            greedy = self.online(x).q.argmax(dim=1).cpu().numpy().astype(np.int64)
        return np.where(explore, random_actions, greedy)

    def _obs_tensor(self, obs: np.ndarray) -> torch.Tensor:
        array = np.asarray(obs, dtype=np.float32)
        if array.ndim != 2 or not self._fits(array.shape[1]):
            raise ValueError(
                f"obs must have shape (B, {self.obs_dim}), got {array.shape}: pass a batch "
                "(obs[None] for a single observation)"
            )
        return torch.from_numpy(array).to(self.device)

    def _fits(self, width: int) -> bool:
        """An observation ``width`` wide is the agent's, or (a width-free network) any whole
        number of its action blocks: a set wider than the environment's slots."""
        if width == self.obs_dim:
            return True
        block = getattr(self.online, "block", None) if width_free(self.online) else None
        return block is not None and width > 0 and width % block == 0

    # --- learning -----------------------------------------------------------------------------
    def anneal_lr(self, progress: float) -> float:
        """Set Adam's rate for ``progress`` in [0, 1] of the budget: ``lr + (lr_end - lr) *
        progress`` (``lr`` when no ``lr_end``); returns it. A function of progress only, so a
        resumed run anneals exactly as an uninterrupted one."""
        c = self.config
        lr = c.lr if c.lr_end is None else c.lr + (c.lr_end - c.lr) * min(max(progress, 0.0), 1.0)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def learn(self, batch: Batch) -> LearnStats:
        """One guarded gradient step on ``batch`` (the formulas in :mod:`hrrl.engine.dqn`)::

        y = r + gamma * (1 - terminated) * Q_target(s', argmax_a Q_online(s', a))   (double)
        L = sum_i w_i * huber(Q_online(s_i, a_i) - y_i) / n_kept   (the guard screens the batch)
        """
        cfg, guard = self.config, self.guard
        self.n_learn += 1
        step = self.n_learn
        batch = _to_device(batch, self.device)
        q_all = self.online(batch.obs).q
        q_sa = q_all.gather(1, batch.actions.long().unsqueeze(1)).squeeze(1)
        y = td_targets(batch, self.online, self.target, gamma=cfg.gamma, double=cfg.double)
        # The guard's screen stays on the device: its counts are read with the other numbers.
        screening = guard.screen_on_device((q_sa.detach() - y).abs())
        if screening is None:
            loss = dqn_loss(q_sa, y, batch.weights, huber_delta=cfg.huber_delta)
        else:
            # A screened transition targets its own estimate: zero loss, zero gradient, zero TD
            # error (so prioritized replay stops drawing it), and no NaN can leak into the step.
            keep = screening.keep
            y = torch.where(keep, y, q_sa.detach())
            loss = torch.where(
                keep.all(),  # the loss of an unscreened batch, to the bit
                dqn_loss(q_sa, y, batch.weights, huber_delta=cfg.huber_delta),
                dqn_loss(q_sa, y, batch.weights, huber_delta=cfg.huber_delta, keep=keep),
            )
        grad_norm = self._backward_clipped(loss)
        td_abs = (q_sa.detach() - y).abs()
        # The step is taken before the host reads this update's numbers, so an update reads the
        # device once: a refused one is undone by the guard's rollback (as a refusal before the
        # step always was), and a batch screened whole takes no step (decided on the device).
        screened_whole = None if screening is None else (~screening.keep).all().float()
        adam_step(self.optimizer, screened_whole)
        params_finite = guard.params_finite_on_device()
        # Everything the host needs of this update, in one device-to-host transfer.
        q = q_sa.detach()
        scalars = [loss.detach(), grad_norm, q.mean(), q_all.detach().max()]
        scalars += [torch.maximum(td_abs.max(), q.abs().mean())]  # the guard's batch scale
        if params_finite is not None:
            scalars += [params_finite]
        if screening is not None:
            scalars += list(screening.counts)
        head = len(scalars)
        host = torch.cat([torch.stack(scalars).float(), td_abs.float()]).cpu().numpy()
        loss_value, norm, q_mean, q_max, scale = (float(x) for x in host[:5])
        finite = None if params_finite is None else bool(host[5])
        td_errors = host[head:]
        if screening is not None:
            dropped = guard.record_screen(host[head - 2 : head].tolist(), step=step)
            if dropped == len(td_errors):  # nothing left to learn from: no step was taken
                # every Q NaN: bad weights?
                why = guard.check_params(step=step, finite=finite) or "screened"
                return LearnStats(
                    loss=0.0,
                    td_errors=np.zeros_like(td_errors),
                    grad_norm=0.0,
                    q_mean=q_mean,
                    q_max=q_max,
                    applied=False,
                    anomaly=why,
                )
        anomaly = guard.check_update(loss_value, norm, step=step)
        if anomaly is None:
            anomaly = guard.check_step(loss_value, scale, step=step, finite=finite)
        if anomaly is None:
            self.n_applied += 1
        return LearnStats(
            loss=loss_value,
            td_errors=td_errors,
            grad_norm=norm,
            q_mean=q_mean,
            q_max=q_max,
            applied=anomaly is None,
            anomaly=anomaly,
        )

    def _backward_clipped(self, loss: torch.Tensor) -> torch.Tensor:
        """Gradients of ``loss``, their global L2 norm clipped to ``max_grad_norm``; returns the
        norm before clipping (on the device: read with the update's other numbers)."""
        for p in self._online_params:
            p.grad = None
        loss.backward()
        grads = [p.grad for p in self._online_params if p.grad is not None]
        return clip_grad_norm_(grads, self.config.max_grad_norm)

    def after_update(self) -> bool:
        """The target sync, on its own clock: every ``target_update_interval`` calls (one per
        update) a hard copy, or one Polyak step ``target <- (1 - tau) target + tau online``.
        Returns whether it synced."""
        self.n_updates += 1
        if self.n_updates % self.config.target_update_interval:
            return False
        with torch.no_grad():
            if self.config.target_update == "hard":
                self.target.load_state_dict(self.online.state_dict())
                self.guard.new_target()
            else:
                torch._foreach_lerp_(self._target_params, self._online_params, self.config.tau)
        self.n_target_syncs += 1
        return True

    # --- state --------------------------------------------------------------------------------
    def tensor_state(self) -> dict[str, torch.Tensor]:
        """Every tensor (CPU clones): ``online.*``, ``target.*``, ``optim.<param>.<key>``."""
        out: dict[str, torch.Tensor] = {}
        for prefix, net in (("online", self.online), ("target", self.target)):
            for key, value in net.state_dict().items():
                out[f"{prefix}.{key}"] = value.detach().cpu().clone()
        for pid, entry in self.optimizer.state_dict()["state"].items():
            for key, value in entry.items():
                if isinstance(value, torch.Tensor):
                    out[f"optim.{pid}.{key}"] = value.detach().cpu().clone()
        return out

    def meta_state(self) -> dict[str, Any]:
        """JSON-able state: config, counters, RNG, optimizer hyper-parameters, guard."""
        opt = self.optimizer.state_dict()
        scalars = {
            str(pid): {k: v for k, v in entry.items() if not isinstance(v, torch.Tensor)}
            for pid, entry in opt["state"].items()
        }
        return {
            "version": STATE_VERSION,
            "obs_dim": self.obs_dim,
            "n_actions": self.n_actions,
            "config": dataclasses.asdict(self.config),
            "counters": {
                "n_learn": self.n_learn,
                "n_applied": self.n_applied,
                "n_updates": self.n_updates,
                "n_target_syncs": self.n_target_syncs,
            },
            "rng": self.rng.bit_generator.state,
            "optimizer": {"param_groups": _jsonable(opt["param_groups"]), "scalars": scalars},
            "guard": self.guard.state_dict(),  # None when unguarded
        } | ({"obs_shape": list(self.obs_shape)} if self.obs_shape != (self.obs_dim,) else {})

    def load_state(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
        """Restore from :meth:`tensor_state` and :meth:`meta_state` output (both needed)."""
        if int(meta.get("version", -1)) != STATE_VERSION:
            raise ValueError(f"agent state version {meta.get('version')!r} is not {STATE_VERSION}")
        saved = meta["config"]
        for key, mine in (
            ("obs_dim", self.obs_dim),
            ("n_actions", self.n_actions),
            ("network", self.config.network),
            ("hidden", self.config.hidden),
        ):
            theirs = meta[key] if key in meta else saved[key]
            if theirs != mine:
                raise ValueError(
                    f"saved agent has {key}={theirs!r}, this one {mine!r}: build it the same way"
                )
        for prefix, net in (("online", self.online), ("target", self.target)):
            net.load_state_dict(
                {k[len(prefix) + 1 :]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
            )
        state: dict[int, dict[str, Any]] = {}
        for pid, entry in meta["optimizer"]["scalars"].items():
            state[int(pid)] = dict(entry)
        for key, value in tensors.items():
            if key.startswith("optim."):
                _, pid, name = key.split(".", 2)
                state.setdefault(int(pid), {})[name] = value.clone()
        groups = copy.deepcopy(meta["optimizer"]["param_groups"])
        for group in groups:
            if "betas" in group:
                group["betas"] = tuple(group["betas"])
        self.optimizer.load_state_dict({"state": state, "param_groups": groups})
        counters = meta["counters"]
        self.n_learn = int(counters["n_learn"])
        self.n_applied = int(counters["n_applied"])
        self.n_updates = int(counters["n_updates"])
        self.n_target_syncs = int(counters["n_target_syncs"])
        self.rng.bit_generator.state = meta["rng"]
        if meta.get("guard") is not None:  # None: saved unguarded
            self.guard.load_state_dict(meta["guard"])
        self.guard.snapshot()  # the loaded state is the new rollback point

    def state_dict(self) -> dict[str, Any]:
        """``{"tensors": tensor_state(), "meta": meta_state()}``."""
        return {"tensors": self.tensor_state(), "meta": self.meta_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.load_state(state["tensors"], state["meta"])


def _to_device(batch: Batch, device: torch.device) -> Batch:
    if batch.obs.device == device:
        return batch
    return dataclasses.replace(
        batch,
        obs=batch.obs.to(device),
        actions=batch.actions.to(device),
        rewards=batch.rewards.to(device),
        next_obs=batch.next_obs.to(device),
        terminated=batch.terminated.to(device),
        weights=None if batch.weights is None else batch.weights.to(device),
        discounts=None if batch.discounts is None else batch.discounts.to(device),
    )


def _jsonable(value: Any) -> Any:
    """Tuples to lists, recursively (optimizer param groups hold ``betas`` as a tuple)."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, torch.Tensor):
        return value.item()
    return value
