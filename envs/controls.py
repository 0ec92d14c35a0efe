"""Message controls: what a listener hears in place of the message that was sent.

A control changes **one thing**: what the listening agent observes of the message.
The speaker's action space, its action's meaning (in ``contextual_pd_v0`` each agent's
C/D is still read off its own first symbol), the rewards' rule, every other part of
every observation and the world's random draws stay as they are. Envs where agents
talk take the option ``message_control``:

``"none"``
    The listener hears the message that was sent (the default).
``"mute"``
    The listener hears a constant: symbol 0 in every position (what a speaker using
    the ``none`` channel sends; for ``speaker_listener_v0`` word 0, also with
    continuous actions). Where the observation marks "nothing said yet" with zeros
    (before the speaker's first step) that stays as it is.
``"shuffle"``
    The listener hears the message sent, in the same step, in **another env of the
    batch**: each step draws a uniformly random cyclic order of the ``num_envs`` envs
    and env ``i`` hears the env after it (:func:`shuffle_sources`). Every sent message
    is heard exactly once, so the batch's heard messages are a permutation of its sent
    messages (the channel's marginal distribution is kept exactly), and no env hears
    its own message, so the heard message is independent of the env's own meaning
    (the other env's episode is independent of this one's). With ``num_envs == 1``
    (the PettingZoo and Gymnasium faces) there is no other env: the listener hears a
    message drawn uniformly at random (symbols uniform over the vocabulary; a uniform
    word, or a uniform vector in ``[0, 1]^3`` for continuous ``speaker_listener_v0``
    messages). That is still independent of the meaning, but its marginal is uniform,
    not the speaker's: to keep the statistics, use a batched core with
    ``num_envs >= 2``. The draws come from a second generator seeded from the env's
    seed, so the world (targets, candidates, goals, images) is the same with and
    without the control for the same seed.

Every such env reports what was heard in ``infos[agent]["heard_message"]`` next to the
sent ``infos[agent]["message"]``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import torch

__all__ = [
    "MESSAGE_CONTROLS",
    "MessageControl",
    "MessageControlMixin",
    "check_message_control",
    "heard_message",
    "shuffle_sources",
]

MESSAGE_CONTROLS: tuple[str, ...] = ("none", "mute", "shuffle")
"""The values of the ``message_control`` option."""

MessageControl = Literal["none", "mute", "shuffle"]

_CONTROL_STREAM = 0x6D7367  # tags the control generator's seed ("msg")


def check_message_control(env_name: str, value: Any) -> None:
    """Raise ``ValueError`` unless ``value`` is one of :data:`MESSAGE_CONTROLS`."""
    if not isinstance(value, str) or value not in MESSAGE_CONTROLS:
        raise ValueError(
            f"{env_name}: message_control must be one of {list(MESSAGE_CONTROLS)}, "
            f"got {value!r}"
        )


def shuffle_sources(
    n: int, *, generator: torch.Generator, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """Which env each of ``n >= 2`` envs hears: a uniformly random ``n``-cycle.

    Returns ``source`` ``[n]`` (int64): env ``i`` hears the message of env
    ``source[i]``. ``source`` is a permutation without fixed points (every message is
    heard once, never by its own env), and for each ``i`` the source is uniform over
    the other ``n - 1`` envs.

    >>> g = torch.Generator().manual_seed(0)
    >>> src = shuffle_sources(5, generator=g)
    >>> sorted(src.tolist()), bool((src != torch.arange(5)).all())
    ([0, 1, 2, 3, 4], True)
    """
    if n < 2:
        raise ValueError(f"shuffle_sources needs n >= 2 envs, got {n}")
    order = torch.randperm(n, generator=generator, device=device)
    source = torch.empty_like(order)
    source[order] = order.roll(-1)
    return source


def heard_message(
    sent: torch.Tensor,
    control: str,
    *,
    generator: torch.Generator,
    constant: torch.Tensor,
    random_message: Callable[[], torch.Tensor],
) -> torch.Tensor:
    """What each env's listener hears of the batch of sent messages ``sent`` [N, ...].

    ``constant`` is the muted message (broadcast to ``sent``'s shape);
    ``random_message()`` returns a uniformly random batch of messages, used by
    ``"shuffle"`` when the batch has a single env. See the module docstring.
    """
    if control == "none":
        return sent
    if control == "mute":
        return constant.to(sent.dtype).expand_as(sent).clone()
    if sent.shape[0] >= 2:
        source = shuffle_sources(sent.shape[0], generator=generator, device=sent.device)
        return sent.index_select(0, source)
    return random_message()


class MessageControlMixin:
    """Gives a :class:`~envs.core.BatchedEnv` a second generator for the controls.

    Seeded whenever the env's generator is (from its seed, so the world's draws do
    not depend on the control), saved and restored with the env's state.
    """

    generator: torch.Generator
    device: torch.device
    _control_generator: torch.Generator

    def _seed(self, seed: int | None) -> None:
        super()._seed(seed)  # type: ignore[misc]
        base = self.generator.initial_seed()
        derived = np.random.SeedSequence([base, _CONTROL_STREAM]).generate_state(
            1, dtype=np.uint64
        )[0]
        if getattr(self, "_control_generator", None) is None:
            self._control_generator = torch.Generator(device=self.device)
        self._control_generator.manual_seed(int(derived))

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()  # type: ignore[misc]
        state["control_generator"] = self._control_generator.get_state()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)  # type: ignore[misc]
        if "control_generator" in state:
            self._control_generator.set_state(state["control_generator"])
        tensors = state["tensors"]
        if "heard" not in tensors and "message" in tensors:
            # A state saved before controls existed: the listener heard the message.
            self.heard = self.message.clone()  # type: ignore[attr-defined]
