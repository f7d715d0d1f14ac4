"""Q-networks: a plain MLP (optionally dueling), the phase-adaptive network (a shared trunk, three
heads mixed by a learned phase classifier), the slot network (one shared scorer applied to each
action's block of the observation, so one set of weights serves any number of actions), the set
network (the same, each action scored beside a pooled summary of the whole set) and a
small CNN for grid observations and the Nature DQN's CNN for stacks of Atari frames.

Each returns a :class:`QOutput` ``(q, phase_probs)`` so the agent handles them alike.

Parameters are initialised from an explicit ``torch.Generator`` (PyTorch's default scheme:
``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` for weights and biases), never from the global RNG: the
layers are built with ``skip_init`` so constructing a network neither reads nor advances global
random state.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import skip_init

#: Names of the phase-adaptive network's heads, in order.
PHASES: tuple[str, ...] = ("exploration", "navigation", "precision")
NETWORK_KINDS: tuple[str, ...] = ("phase_adaptive", "mlp", "slots", "set", "cnn")
#: Arithmetic a ``cnn``'s convolutions may run in (``agent.conv_dtype``): float32, or bfloat16
#: under ``torch.autocast`` (the layers after the convolutions stay float32); ``auto`` is
#: resolved per device by :func:`resolve_conv_dtype`.
CONV_DTYPES: dict[str, torch.dtype | None] = {"float32": None, "bfloat16": torch.bfloat16}
CONV_DTYPE_CHOICES: tuple[str, ...] = (*CONV_DTYPES, "auto")
#: CPU flags (``/proc/cpuinfo``) of the instructions that compute in bfloat16.
BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


@functools.cache
def _cpu_computes_bfloat16() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return not BF16_CPU_FLAGS.isdisjoint(line.split(":", 1)[1].split())
    except OSError:
        pass
    return False


def resolve_conv_dtype(conv_dtype: str, device: torch.device | str = "cpu") -> str:
    """``conv_dtype`` as the network runs it on ``device``: ``auto`` is bfloat16 where the device
    computes in it (a CUDA GPU that supports it; a CPU with AVX512-BF16 or AMX, read from
    ``/proc/cpuinfo``) and float32 elsewhere (a CPU without those instructions emulates
    bfloat16, slower than float32); the others are themselves."""
    if conv_dtype != "auto":
        return conv_dtype
    device = torch.device(device)
    if device.type == "cuda":
        fast = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    else:
        fast = device.type == "cpu" and _cpu_computes_bfloat16()
    return "bfloat16" if fast else "float32"


#: Networks whose weights do not depend on the number of actions: the observation is one block
#: per action and the output as wide as the observation has blocks.
ACTION_SET_KINDS: tuple[str, ...] = ("slots", "set")


class QOutput(NamedTuple):
    """``q``: (B, n_actions) action values. ``phase_probs``: (B, 3) mixing weights of the
    phase-adaptive heads, or ``None`` for networks without phases."""

    q: torch.Tensor
    phase_probs: torch.Tensor | None


def _linear(n_in: int, n_out: int, generator: torch.Generator) -> nn.Linear:
    """``nn.Linear`` initialised from ``generator`` (same distribution as PyTorch's default)."""
    layer = skip_init(nn.Linear, n_in, n_out)
    bound = 1.0 / math.sqrt(n_in)
    with torch.no_grad():
        layer.weight.uniform_(-bound, bound, generator=generator)
        layer.bias.uniform_(-bound, bound, generator=generator)
    return layer


class ReLUStack(nn.Sequential):
    """Linear layers with a ReLU after each one (the trunk ends in a ReLU too), held as
    ``nn.Sequential`` holds them (state-dict keys ``0.weight``, ``2.weight``, ...).

    Its forward calls the kernels itself rather than each layer's ``Module.__call__``, whose
    hook checks cost about 5 us a layer: a tenth of a 2 x 256 network's forward at batch 64,
    paid four times an update. A layer with a hook of its own (or while a global module hook
    is registered) goes through ``Module.__call__``, so every hook runs.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self:
            if isinstance(layer, nn.Linear):
                x = _apply_linear(layer, x)
            else:
                x = layer(x) if _hooked(layer) else torch.relu(x)
        return x


def _hooked(layer: nn.Module) -> bool:
    """Whether calling ``layer`` would run a hook: one of its own, or one registered for every
    module (``torch.nn.modules.module.register_module_forward_hook`` and its kin)."""
    module = nn.modules.module
    return bool(
        layer._forward_hooks
        or layer._forward_pre_hooks
        or layer._backward_hooks
        or layer._backward_pre_hooks
        or module._global_forward_hooks
        or module._global_forward_pre_hooks
        or module._global_backward_hooks
        or module._global_backward_pre_hooks
    )


def _apply_linear(layer: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """``layer(x)`` for an ``nn.Linear``, without ``Module.__call__`` unless a hook would run
    (see :class:`ReLUStack`)."""
    if _hooked(layer):
        return layer(x)
    return F.linear(x, layer.weight, layer.bias)


def _mlp(sizes: list[int], generator: torch.Generator) -> ReLUStack:
    """Linear layers with ReLU after each one (the trunk ends in a ReLU too)."""
    layers: list[nn.Module] = []
    for n_in, n_out in itertools.pairwise(sizes):
        layers += [_linear(n_in, n_out, generator), nn.ReLU()]
    return ReLUStack(*layers)


def _q_head(z: torch.Tensor, head: nn.Linear, value: nn.Linear | None) -> torch.Tensor:
    """``head(z)``, or with a ``value`` head the dueling combination of the two (Wang et al.
    2016): ``Q(s, a) = V(s) + A(s, a) - mean_a' A(s, a')``."""
    advantages = _apply_linear(head, z)
    if value is None:
        return advantages
    return _apply_linear(value, z) + advantages - advantages.mean(dim=1, keepdim=True)


#: The most weights one layer may hold (2^28 float32, 1 GiB): a larger size read from a config,
#: a bundle or a checkpoint is a mistake or a forgery, refused before anything is allocated.
MAX_LAYER_WEIGHTS = 1 << 28


def _check_sizes(obs_dim: int, n_actions: int, hidden: int) -> None:
    for name, value in (("obs_dim", obs_dim), ("n_actions", n_actions), ("hidden", hidden)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}={value!r} is invalid: it must be an integer >= 1")
    for name, weights in (
        ("obs_dim x hidden", obs_dim * hidden),
        ("hidden x hidden", hidden * hidden),
        ("hidden x n_actions", hidden * n_actions),
    ):
        if weights > MAX_LAYER_WEIGHTS:
            raise ValueError(
                f"obs_dim={obs_dim}, hidden={hidden}, n_actions={n_actions}: a layer of {name} "
                f"= {weights:,} weights is over {MAX_LAYER_WEIGHTS:,} (1 GiB): refused"
            )


class MLPQNetwork(nn.Module):
    """``obs -> [Linear(hidden) -> ReLU] x layers -> Linear(n_actions)``, or with ``dueling``
    two heads on the trunk (Wang et al. 2016)::

        Q(s, a) = V(s) + A(s, a) - mean_a' A(s, a')

    The mean (not the max) is subtracted: it pins the split of Q into V and A without changing
    which action is greedy, and keeps the advantages' scale stable.
    """

    def __init__(
        self,
        obs_dim: int,
        n_actions: int,
        hidden: int = 256,
        layers: int = 2,
        *,
        dueling: bool = False,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        _check_sizes(obs_dim, n_actions, hidden)
        if layers < 1:
            raise ValueError(f"layers={layers!r} is invalid: it must be >= 1")
        gen = generator if generator is not None else torch.Generator().manual_seed(0)
        self.trunk = _mlp([obs_dim] + [hidden] * layers, gen)
        self.head = _linear(hidden, n_actions, gen)  # the advantages, when dueling
        self.value = _linear(hidden, 1, gen) if dueling else None

    def forward(self, obs: torch.Tensor) -> QOutput:
        return QOutput(_q_head(self.trunk(obs), self.head, self.value), None)


class PhaseAdaptiveQNetwork(nn.Module):
    """A shared trunk, one Q head per phase, and a classifier that mixes the heads.

    ::

        obs ─> Linear(hidden) ─ ReLU ─> Linear(hidden) ─ ReLU ─> z
        z ─> head_k = Linear(hidden, n_actions)       k in (exploration, navigation, precision)
        z ─> p = softmax(Linear(hidden, 3))            phase probabilities
        Q(obs, a) = sum_k p_k * head_k(z)[a]

    Each head is a single linear layer: the trunk is shared, and the mixture is what lets the
    network behave differently far from, near and at the goal. The classifier is trained only
    through the TD loss (no phase labels), so the phases are whatever split helps the value fit.
    """

    def __init__(
        self,
        obs_dim: int,
        n_actions: int,
        hidden: int = 256,
        *,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        _check_sizes(obs_dim, n_actions, hidden)
        gen = generator if generator is not None else torch.Generator().manual_seed(0)
        self.trunk = _mlp([obs_dim, hidden, hidden], gen)
        self.heads = nn.ModuleList(_linear(hidden, n_actions, gen) for _ in PHASES)
        self.phase = _linear(hidden, len(PHASES), gen)

    def forward(self, obs: torch.Tensor) -> QOutput:
        z = self.trunk(obs)
        probs = torch.softmax(self.phase(z), dim=-1)  # (B, 3)
        heads = torch.stack([head(z) for head in self.heads], dim=-2)  # (B, 3, A)
        q = (probs.unsqueeze(-1) * heads).sum(dim=-2)
        return QOutput(q, probs)


def _block_size(kind: str, obs_dim: int, n_actions: int, hidden: int) -> int:
    """Features per action of a network reading one equal block per action."""
    _check_sizes(obs_dim, n_actions, hidden)
    if obs_dim % n_actions:
        raise ValueError(
            f"obs_dim={obs_dim} is invalid for the {kind} network: it must be n_actions "
            f"({n_actions}) equal blocks"
        )
    return obs_dim // n_actions


class SlotQNetwork(nn.Module):
    """One scorer shared by every action: the observation is ``n_actions`` equal blocks.

    ::

        obs (B, n_actions * block) ─> reshape (B * n_actions, block)
        f = [Linear(hidden) ─ ReLU] x layers ─> Linear(1)
        Q(obs, k) = f(obs[k * block : (k + 1) * block])

    Nothing in the weights depends on how many actions there are or what they mean: the task
    puts into block ``k`` whatever action ``k`` does (and a summary of the state), so the same
    network scores a task of 3 actions or of 8. Two equal blocks get equal Q-values.
    """

    def __init__(
        self,
        obs_dim: int,
        n_actions: int,
        hidden: int = 256,
        layers: int = 2,
        *,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        gen = generator if generator is not None else torch.Generator().manual_seed(0)
        self.block = _block_size("slot", obs_dim, n_actions, hidden)
        self.trunk = _mlp([self.block] + [hidden] * layers, gen)
        self.head = _linear(hidden, 1, gen)

    def forward(self, obs: torch.Tensor) -> QOutput:
        """Q-values of every block: ``n_actions`` for the observations it was built for, as
        many as ``obs`` has blocks for any other width."""
        rows = obs.reshape(-1, self.block)
        q = self.head(self.trunk(rows)).reshape(obs.shape[0], -1)
        return QOutput(q, None)


class SetQNetwork(nn.Module):
    """A policy over the set of actions (DeepSets): each action scored by one shared scorer
    beside a permutation-invariant summary of the whole set.

    ::

        obs (B, n * block) ─> blocks (B, n, block)
        h_k = phi(block_k)                         [Linear(hidden) ─ ReLU]
        g   = max_k h_k                            the set's summary (elementwise max)
        Q(obs, k) = head(psi([h_k, g]))            [Linear(hidden) ─ ReLU] ─> Linear(1)

    No weight depends on ``n``: the same network scores 1 action or 64, and its output is as
    wide as the observation has blocks. Permuting the blocks permutes the Q-values; repeating
    a block (the slot encoder's ``k mod n`` fill) changes neither ``g`` (a maximum) nor any
    Q-value, so a set played in ``n`` blocks and in the env's padded slots scores the same (up
    to float rounding: the matrix products have other shapes).
    """

    def __init__(
        self,
        obs_dim: int,
        n_actions: int,
        hidden: int = 256,
        *,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        gen = generator if generator is not None else torch.Generator().manual_seed(0)
        self.block = _block_size("set", obs_dim, n_actions, hidden)
        self.phi = _mlp([self.block, hidden], gen)
        self.psi = _mlp([2 * hidden, hidden], gen)
        self.head = _linear(hidden, 1, gen)

    def forward(self, obs: torch.Tensor) -> QOutput:
        """Q-values of every block (as many as ``obs`` has)."""
        h = self.phi(obs.reshape(obs.shape[0], -1, self.block))  # (B, n, hidden)
        g = h.amax(dim=1, keepdim=True).expand_as(h)
        q = _apply_linear(self.head, self.psi(torch.cat([h, g], dim=-1)))
        return QOutput(q.squeeze(-1), None)


def width_free(network: nn.Module) -> bool:
    """Whether ``network`` scores any number of action blocks (:data:`ACTION_SET_KINDS`)."""
    return isinstance(network, SlotQNetwork | SetQNetwork)


#: Filters of the convolution (the MinAtar paper's).
CONV_FILTERS = 16


def _conv(
    n_in: int, n_out: int, kernel: int, generator: torch.Generator, stride: int = 1
) -> nn.Conv2d:
    """``nn.Conv2d`` initialised from ``generator`` (PyTorch's default distribution)."""
    layer = skip_init(nn.Conv2d, n_in, n_out, kernel, stride=stride)
    bound = 1.0 / math.sqrt(n_in * kernel * kernel)
    with torch.no_grad():
        layer.weight.uniform_(-bound, bound, generator=generator)
        assert layer.bias is not None
        layer.bias.uniform_(-bound, bound, generator=generator)
    return layer


def _conv_arithmetic(
    x: torch.Tensor, dtype: torch.dtype | None
) -> contextlib.AbstractContextManager:
    """Where the convolutions run: under ``torch.autocast`` to ``dtype`` on ``x``'s device, or
    (None) as they are. The weights, their gradients and Adam's state stay float32 either way;
    only the convolutions' inputs and outputs are rounded (on one CPU thread with AVX512-BF16
    the Nature CNN's update takes about 0.7 of its float32 time, ``bench/atari_vs_sb3.py``)."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(x.device.type, dtype=dtype)


class ConvQNetwork(nn.Module):
    """A small convolutional Q-network for image-like observations (MinAtar's 10 x 10 x C).

    The engine stores observations flat (replay rows of ``obs_dim`` floats); this network takes
    the flat rows, restores the ``(H, W, C)`` shape the task reported and reads ``C`` channels::

        obs (B, H*W*C) ─> view (B, H, W, C) ─> permute (B, C, H, W)
            ─> Conv2d(C, 16, 3) ─ ReLU ─> flatten ─> Linear(hidden) ─ ReLU ─> Linear(n_actions)

    The MinAtar paper's network (Young & Tian 2019): one 3x3 convolution of 16 filters and a
    128-unit hidden layer is enough for these small games and cheap on a CPU.
    """

    def __init__(
        self,
        obs_shape: tuple[int, ...],
        n_actions: int,
        hidden: int = 128,
        *,
        dueling: bool = False,
        conv_dtype: str = "float32",
        generator: torch.Generator,
    ) -> None:
        super().__init__()
        self.conv_dtype = CONV_DTYPES[conv_dtype]
        if len(obs_shape) != 3 or min(obs_shape) < 1 or min(obs_shape[:2]) < 3:
            raise ValueError(
                f"obs_shape={obs_shape!r} is invalid for network=cnn: it needs (height, width, "
                "channels) with height and width >= 3 (use network=mlp for vectors)"
            )
        height, width, channels = obs_shape
        self.obs_shape = (height, width, channels)
        self.conv = _conv(channels, CONV_FILTERS, 3, generator)
        flat = CONV_FILTERS * (height - 2) * (width - 2)
        self.hidden = _linear(flat, hidden, generator)
        self.head = _linear(hidden, n_actions, generator)  # the advantages, when dueling
        self.value = _linear(hidden, 1, generator) if dueling else None

    def forward(self, obs: torch.Tensor) -> QOutput:
        x = obs.view(obs.shape[0], *self.obs_shape).permute(0, 3, 1, 2)
        with _conv_arithmetic(x, self.conv_dtype):
            y = torch.relu(F.conv2d(x, self.conv.weight, self.conv.bias))
        z = torch.relu(_apply_linear(self.hidden, y.flatten(1).float()))
        return QOutput(_q_head(z, self.head, self.value), None)


#: The Nature DQN's convolutions: (filters, kernel, stride) (Mnih et al. 2015).
NATURE_CONVS = ((32, 8, 4), (64, 4, 2), (64, 3, 1))
#: Height and width from which a 3-D observation is a channels-first image stack (Atari's
#: (4, 84, 84)) read by the Nature CNN, not a small (H, W, C) grid (MinAtar's (10, 10, C)).
NATURE_MIN_SIZE = 36


def is_frame_stack(obs_shape: tuple[int, ...]) -> bool:
    """Whether an observation of ``obs_shape`` is a channels-first stack of image frames (read by
    the Nature CNN, kept as uint8 and each frame replayed once), not a small grid or a vector."""
    return len(obs_shape) == 3 and min(obs_shape[1:]) >= NATURE_MIN_SIZE


class NatureQNetwork(nn.Module):
    """The Nature DQN's network (Mnih et al. 2015) for stacks of image frames, ``(C, H, W)``
    uint8 (Atari: 4 grey frames of 84 x 84), given flat or shaped::

        obs ─> view (B, C, H, W) ─> float / 255
            ─> Conv2d(C, 32, 8, stride 4) ─ ReLU ─> Conv2d(32, 64, 4, stride 2) ─ ReLU
            ─> Conv2d(64, 64, 3) ─ ReLU ─> flatten ─> Linear(hidden) ─ ReLU ─> Linear(n_actions)
    """

    def __init__(
        self,
        obs_shape: tuple[int, ...],
        n_actions: int,
        hidden: int = 512,
        *,
        dueling: bool = False,
        conv_dtype: str = "float32",
        generator: torch.Generator,
    ) -> None:
        super().__init__()
        self.conv_dtype = CONV_DTYPES[conv_dtype]
        channels, height, width = obs_shape
        self.obs_shape = (channels, height, width)
        convs, n_in = [], channels
        for filters, kernel, stride in NATURE_CONVS:
            convs.append(_conv(n_in, filters, kernel, generator, stride=stride))
            n_in = filters
            height, width = (height - kernel) // stride + 1, (width - kernel) // stride + 1
        self.convs = nn.ModuleList(convs)
        self.hidden = _linear(n_in * height * width, hidden, generator)
        self.head = _linear(hidden, n_actions, generator)  # the advantages, when dueling
        self.value = _linear(hidden, 1, generator) if dueling else None

    def forward(self, obs: torch.Tensor) -> QOutput:
        x = obs.reshape(obs.shape[0], *self.obs_shape).float() / 255.0
        with _conv_arithmetic(x, self.conv_dtype):
            for conv in self.convs:
                x = torch.relu(conv(x))
        z = torch.relu(self.hidden(x.flatten(1).float()))
        return QOutput(_q_head(z, self.head, self.value), None)


def make_network(
    kind: Literal["phase_adaptive", "mlp", "slots", "set", "cnn"] | str,
    *,
    obs_dim: int,
    n_actions: int,
    hidden: int = 256,
    dueling: bool = False,
    conv_dtype: str = "float32",
    obs_shape: tuple[int, ...] | None = None,
    generator: torch.Generator,
) -> nn.Module:
    """The Q-network ``kind`` names, initialised from ``generator`` (``dueling``: mlp and cnn;
    ``conv_dtype``: cnn, one of :data:`CONV_DTYPE_CHOICES`, ``auto`` resolved for the CPU (a
    caller on another device resolves it first); ``obs_shape``: the unflattened
    observation shape, which ``cnn`` needs: a channels-first stack of frames of at least
    :data:`NATURE_MIN_SIZE` pixels gets the Nature CNN, a small ``(H, W, C)`` grid the MinAtar
    one)."""
    if dueling and kind not in ("mlp", "cnn"):
        raise ValueError(f"dueling=True needs kind='mlp' or 'cnn', got {kind!r}")
    if conv_dtype not in CONV_DTYPE_CHOICES or (conv_dtype != "float32" and kind != "cnn"):
        raise ValueError(
            f"conv_dtype={conv_dtype!r} needs kind='cnn' and one of {list(CONV_DTYPE_CHOICES)}"
        )
    conv_dtype = resolve_conv_dtype(conv_dtype)  # built on the CPU: moved later, resolved first
    if kind == "cnn":
        if obs_shape is None or math.prod(obs_shape) != obs_dim:
            raise ValueError(
                f"network kind='cnn' needs obs_shape with {obs_dim} elements, got {obs_shape!r}"
            )
        net = NatureQNetwork if is_frame_stack(obs_shape) else ConvQNetwork
        return net(
            obs_shape,
            n_actions,
            hidden,
            dueling=dueling,
            conv_dtype=conv_dtype,
            generator=generator,
        )
    if kind == "phase_adaptive":
        return PhaseAdaptiveQNetwork(obs_dim, n_actions, hidden, generator=generator)
    if kind == "mlp":
        return MLPQNetwork(obs_dim, n_actions, hidden, dueling=dueling, generator=generator)
    if kind == "slots":
        return SlotQNetwork(obs_dim, n_actions, hidden, generator=generator)
    if kind == "set":
        return SetQNetwork(obs_dim, n_actions, hidden, generator=generator)
    raise ValueError(f"network kind={kind!r} is unknown: choose one of {list(NETWORK_KINDS)}")
