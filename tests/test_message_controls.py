"""The message controls (``message_control="mute"|"shuffle"``) change one thing: what
the listener hears. Checked against ground truth: with the same seed and actions every
other observation entry, reward, end flag and info is identical; muted messages are
constant; shuffled messages are exactly a permutation of the sent ones with no env
hearing its own, and independent of the meaning (mutual information 0 up to its
known small-sample bias, and a chi-square test of independence), where the sent
message carries the whole meaning (4 bits)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from gymnasium import spaces
from scipy import stats

import envs
from envs.controls import MESSAGE_CONTROLS, shuffle_sources

# (env, config, speaker, listener)
TALKING = [
    ("referential_v0", {}, "speaker", "listener"),
    ("contextual_pd_v0", {}, "sender", "responder"),
    (
        "contextual_pd_v0",
        {"label_visibility": "sender_only", "payoff": "parity_coordination"},
        "sender",
        "responder",
    ),
    ("speaker_listener_v0", {}, "speaker_0", "listener_0"),
    ("speaker_listener_v0", {"continuous_actions": True}, "speaker_0", "listener_0"),
    ("reach_v0", {"speaker": True, "goal_visible": False}, "speaker", "mover"),
]
IDS = [
    f"{name}-{'-'.join(f'{k}={v}' for k, v in cfg.items())}"
    for name, cfg, *_ in TALKING
]


def message_block(core: envs.BatchedEnv, listener: str) -> slice:
    """Where the heard message sits in the listener's observation."""
    c = core.config
    if core.name == "referential_v0":
        start, stop = core.obs_parts(listener)["message"]
        return slice(start, stop)
    if core.name == "contextual_pd_v0":
        start = core.obj_dim + 10
        return slice(start, start + c.message_length * c.vocab_size)
    if core.name == "speaker_listener_v0":
        return slice(8, 11)
    start = c.dim * (2 if c.goal_visible else 1)
    return slice(start, start + c.message_length * c.vocab_size)


def random_actions(core: envs.BatchedEnv, g: torch.Generator) -> dict:
    out = {}
    n = core.num_envs
    for agent in core.possible_agents:
        space = core.action_space(agent)
        if isinstance(space, spaces.Discrete):
            out[agent] = torch.randint(0, int(space.n), (n,), generator=g)
        elif isinstance(space, spaces.MultiDiscrete):
            u = torch.rand((n, *space.shape), generator=g)
            out[agent] = (u * torch.as_tensor(space.nvec)).long()
        else:
            low, high = torch.as_tensor(space.low), torch.as_tensor(space.high)
            out[agent] = low + torch.rand((n, *space.shape), generator=g) * (high - low)
    return out


def _without(x: torch.Tensor, block: slice) -> torch.Tensor:
    keep = torch.ones(x.shape[1], dtype=torch.bool)
    keep[block] = False
    return x[:, keep]


@pytest.mark.parametrize("control", ["mute", "shuffle"])
@pytest.mark.parametrize(("name", "cfg", "speaker", "listener"), TALKING, ids=IDS)
def test_a_control_changes_only_what_the_listener_hears(
    name, cfg, speaker, listener, control
):
    n = 16
    base = envs.make_vec(name, n, seed=5, **cfg)
    ctrl = envs.make_vec(name, n, seed=5, message_control=control, **cfg)
    for agent in base.possible_agents:
        assert ctrl.action_space(agent) == base.action_space(agent)
        assert ctrl.observation_space(agent) == base.observation_space(agent)
    assert ctrl.message_agents == base.message_agents
    block = message_block(base, listener)
    obs_b, info_b = base.reset()
    obs_c, info_c = ctrl.reset()
    g = torch.Generator().manual_seed(0)
    heard_blocks = []
    for _ in range(min(3 * base.max_steps, 30)):
        for agent in base.possible_agents:
            if agent == listener:
                assert torch.equal(
                    _without(obs_b[agent], block), _without(obs_c[agent], block)
                )
                heard_blocks.append(obs_c[agent][:, block])
            else:
                assert torch.equal(obs_b[agent], obs_c[agent])
            for key, value in info_b[agent].items():
                if key not in ("heard_message", "final_obs"):
                    assert torch.equal(value, info_c[agent][key]), key
        acts = random_actions(base, g)
        obs_b, rew_b, term_b, trunc_b, info_b = base.step(acts)
        obs_c, rew_c, term_c, trunc_c, info_c = ctrl.step(acts)
        for agent in base.possible_agents:
            assert torch.equal(rew_b[agent], rew_c[agent])
            assert torch.equal(term_b[agent], term_c[agent])
            assert torch.equal(trunc_b[agent], trunc_c[agent])
    if control == "mute":
        # Rows are zeros before the speaker's first step of an episode (as without
        # the control), else one constant: what a `none` channel sends, symbol 0
        # (word 0) in every position.
        rows = torch.cat(heard_blocks)
        spoken = rows[rows.any(1)]
        assert len(spoken) > len(rows) // 3, "the listener rarely heard anything"
        assert torch.equal(spoken, spoken[:1].expand_as(spoken)), "not constant"
        width = 3 if name == "speaker_listener_v0" else base.config.vocab_size
        first = spoken[0].reshape(-1, width)
        assert bool((first[:, 0] == 1).all()) and float(first.sum()) == len(first)


@pytest.mark.parametrize(("name", "cfg", "speaker", "listener"), TALKING, ids=IDS)
def test_shuffle_hears_a_permutation_of_the_sent_messages_never_its_own(
    name, cfg, speaker, listener
):
    n = 24
    core = envs.make_vec(name, n, seed=1, message_control="shuffle", **cfg)
    core.reset()
    acts = random_actions(core, torch.Generator().manual_seed(3))
    # Distinct messages so that "heard its own" is visible.
    space = core.action_space(speaker)
    if isinstance(space, spaces.MultiDiscrete):
        ids = torch.arange(n)
        acts[speaker] = torch.stack([ids % 4, ids // 4], 1)
        if space.shape[0] > 2:  # contextual PD without action_from_first_symbol
            acts[speaker] = torch.cat(
                [acts[speaker], torch.zeros(n, space.shape[0] - 2).long()], 1
            )
    elif isinstance(space, spaces.Box):
        acts[speaker] = torch.rand(
            n, *space.shape, generator=torch.Generator().manual_seed(4)
        )
    _, _, _, _, infos = core.step(acts)
    heard = infos[listener]["heard_message"]
    sent = core.message
    flat_h, flat_s = heard.reshape(n, -1), sent.reshape(n, -1)
    assert sorted(map(tuple, flat_h.tolist())) == sorted(map(tuple, flat_s.tolist()))
    if not isinstance(space, spaces.Discrete):  # 3 words cannot all differ
        assert len({tuple(r) for r in flat_s.tolist()}) == n
        assert not bool((flat_h == flat_s).all(1).any()), "an env heard its own message"


def _plugin_mi_bits(x: np.ndarray, y: np.ndarray) -> float:
    """Plug-in mutual information in bits of two discrete samples (the definition)."""
    joint = np.zeros((x.max() + 1, y.max() + 1))
    np.add.at(joint, (x, y), 1.0)
    joint /= joint.sum()
    px, py = joint.sum(1, keepdims=True), joint.sum(0, keepdims=True)
    nz = joint > 0
    return float((joint[nz] * np.log2(joint[nz] / (px @ py)[nz])).sum())


def _referential_samples(control: str, num_envs: int, episodes: int):
    """Meanings, sent and heard messages when the speaker says the meaning exactly:
    symbol 0 = 4 * attribute 0 + attribute 1, symbol 1 = 4 * attribute 2 +
    attribute 3 (a bijection: the message carries all 8 bits of the meaning)."""
    core = envs.make_vec("referential_v0", num_envs, seed=11, message_control=control)
    _, infos = core.reset()
    meanings, sent, heard = [], [], []
    for _ in range(episodes):
        m = infos["speaker"]["meaning"]
        msg = torch.stack([4 * m[:, 0] + m[:, 1], 4 * m[:, 2] + m[:, 3]], 1)
        listen = torch.zeros(num_envs, dtype=torch.long)
        _, _, _, _, infos = core.step({"speaker": msg, "listener": listen})
        meanings.append(m)
        sent.append(infos["listener"]["message"].clone())
        heard.append(infos["listener"]["heard_message"].clone())
        _, _, _, _, infos = core.step({"speaker": msg, "listener": listen})
    return (torch.cat(x).numpy() for x in (meanings, sent, heard))


def test_shuffled_message_is_independent_of_the_meaning_and_keeps_the_marginal():
    num_envs, episodes = 4096, 8
    meaning, sent, heard = _referential_samples("shuffle", num_envs, episodes)
    pair_01 = 4 * meaning[:, 0] + meaning[:, 1]
    pair_23 = 4 * meaning[:, 2] + meaning[:, 3]
    n = len(meaning)
    # Ground truth: the sent symbol is a function of the pair (4 bits, uniform).
    assert _plugin_mi_bits(sent[:, 0], pair_01) == pytest.approx(4.0, abs=0.01)
    # Independent: plug-in MI is only its bias, (16 - 1)^2 / (2 n ln 2) bits.
    bias = 15 * 15 / (2 * n * math.log(2))
    for symbol, pair in ((0, pair_01), (1, pair_23)):
        mi = _plugin_mi_bits(heard[:, symbol], pair)
        assert mi < 4 * bias, (mi, bias)
        table = np.zeros((16, 16))
        np.add.at(table, (heard[:, symbol], pair), 1)
        assert stats.chi2_contingency(table).pvalue > 1e-3
    # The channel's marginal is kept exactly, batch by batch.
    for b in range(episodes):
        rows = slice(b * num_envs, (b + 1) * num_envs)
        assert sorted(map(tuple, heard[rows].tolist())) == sorted(
            map(tuple, sent[rows].tolist())
        )


def test_shuffle_with_one_env_falls_back_to_uniform_symbols():
    meaning, sent, heard = _referential_samples("shuffle", 1, 1500)
    table = np.zeros((16, 4))
    np.add.at(table, (heard[:, 0], meaning[:, 0]), 1)
    assert stats.chi2_contingency(table).pvalue > 1e-3  # independent of the meaning
    counts = np.bincount(heard.ravel(), minlength=16)
    assert stats.chisquare(counts).pvalue > 1e-3  # uniform over the vocabulary
    assert not np.array_equal(heard, sent)


def test_muted_responder_in_the_pd_keeps_both_agents_actions():
    """Muting changes what the responder sees, never what either agent does: a
    sender that says a D symbol still defects (a `none` channel would make it C)."""
    core = envs.make_vec("contextual_pd_v0", 4, seed=0, message_control="mute")
    core.reset()
    d_symbol = core.config.vocab_size - 1
    sender = torch.full((4, 2), d_symbol)
    responder = torch.zeros(4, 2, dtype=torch.long)
    obs, _, _, _, infos = core.step({"sender": sender, "responder": responder})
    assert bool((infos["responder"]["actions"][:, 0] == 1).all())  # sender defects
    assert bool((infos["responder"]["message"] == d_symbol).all())
    assert bool((infos["responder"]["heard_message"] == 0).all())
    _, _, _, _, infos = core.step({"sender": sender, "responder": responder})
    assert infos["responder"]["actions"].tolist() == [[1, 0]] * 4


def test_control_generator_is_part_of_the_state():
    core = envs.make_vec("referential_v0", 32, seed=0, message_control="shuffle")
    core.reset()
    acts = random_actions(core, torch.Generator().manual_seed(0))
    state = core.state_dict()
    first = core.step(acts)[4]["listener"]["heard_message"].clone()
    core.load_state_dict(state)
    again = core.step(acts)[4]["listener"]["heard_message"]
    assert torch.equal(first, again)
    other = envs.make_vec("referential_v0", 32, seed=1, message_control="shuffle")
    other.load_state_dict(state)
    assert torch.equal(other.step(acts)[4]["listener"]["heard_message"], first)


@pytest.mark.parametrize(("name", "cfg", "speaker", "listener"), TALKING, ids=IDS)
def test_bad_control_values(name, cfg, speaker, listener):
    with pytest.raises(ValueError, match="message_control"):
        envs.make_vec(name, 1, message_control="loud", **cfg)
    with pytest.raises(ValueError, match="message_control"):
        envs.make(name, message_control=True, **cfg)
    for control in MESSAGE_CONTROLS:
        envs.make(name, message_control=control, **cfg).reset(seed=0)


def test_reach_controls_need_a_speaker():
    with pytest.raises(ValueError, match="speaker=True"):
        envs.make_vec("reach_v0", 1, message_control="mute")
    envs.make_vec("reach_v0", 1, message_control="none")


def test_shuffle_sources_is_a_uniform_cycle():
    g = torch.Generator().manual_seed(0)
    draws = torch.stack([shuffle_sources(5, generator=g) for _ in range(20000)])
    assert bool((draws.sort(1).values == torch.arange(5)).all())  # permutations
    assert not bool((draws == torch.arange(5)).any())  # no fixed points
    counts = np.bincount(draws[:, 0].numpy(), minlength=5)
    assert counts[0] == 0
    assert stats.chisquare(counts[1:]).pvalue > 1e-3  # uniform over the others
    with pytest.raises(ValueError, match="n >= 2"):
        shuffle_sources(1, generator=g)


@pytest.mark.parametrize(("name", "cfg", "speaker", "listener"), TALKING, ids=IDS)
def test_a_state_saved_before_controls_existed_still_loads(
    name, cfg, speaker, listener
):
    core = envs.make_vec(name, 4, seed=0, **cfg)
    core.reset()
    core.step(random_actions(core, torch.Generator().manual_seed(0)))
    obs = core._observe()
    state = core.state_dict()
    del state["tensors"]["heard"], state["control_generator"]
    twin = envs.make_vec(name, 4, seed=9, **cfg)
    twin.load_state_dict(state)
    for agent, value in twin._observe().items():
        assert torch.equal(value, obs[agent])
