"""contextual_pd_v0: payoff tables, optima, who sees what, the message channel, modes,
bad config. The env-wide API contract is in test_envs_api.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gymnasium import spaces

import envs
from envs.contextual_pd import (
    PAYOFF_TABLES,
    PAYOFFS,
    ContextualPD,
    joint_optimum,
    optimal_joint_return,
)

N = 256
V, L = 32, 2
IMG, LABELS = 64, 10
C, D = 0, 1

# The tables as REFERENCES.md states them, written out independently of the module:
# (payoff, a_A, a_B, parity) -> (r_A, r_B); parity 0 = even label.
EXPECTED = {
    ("aim", C, C, 0): (5, 5),
    ("aim", C, C, 1): (4, 4),
    ("aim", C, D, 0): (-1, 5),
    ("aim", C, D, 1): (-2, 5),
    ("aim", D, C, 0): (5, -1),
    ("aim", D, C, 1): (5, -2),
    ("aim", D, D, 0): (0, 0),
    ("aim", D, D, 1): (0, 0),
    ("baseline", C, C, 0): (5, 5),
    ("baseline", C, C, 1): (3, 3),
    ("baseline", C, D, 0): (-2, 5),
    ("baseline", C, D, 1): (-2, 5),
    ("baseline", D, C, 0): (5, -2),
    ("baseline", D, C, 1): (5, -2),
    ("baseline", D, D, 0): (0, 0),
    ("baseline", D, D, 1): (0, 0),
    ("parity_coordination", C, C, 0): (1, 1),
    ("parity_coordination", C, C, 1): (0, 0),
    ("parity_coordination", C, D, 0): (0, 0),
    ("parity_coordination", C, D, 1): (1, 1),
    ("parity_coordination", D, C, 0): (0, 0),
    ("parity_coordination", D, C, 1): (0, 0),
    ("parity_coordination", D, D, 0): (0, 0),
    ("parity_coordination", D, D, 1): (0, 0),
}


def symbols(cd: torch.Tensor | int, g: torch.Generator, n: int = N) -> torch.Tensor:
    """Messages ``[n, L]`` whose first symbol means ``cd`` (0 = C, 1 = D); the other
    symbols are random, so only the first one may matter."""
    cd = torch.as_tensor(cd).expand(n)
    first = torch.randint(0, V // 2, (n,), generator=g) + cd * (V // 2)
    rest = torch.randint(0, V, (n, L - 1), generator=g)
    return torch.cat([first[:, None], rest], dim=1)


def play(core, sender, responder, g):
    """One episode: phase 0 with ``sender`` (responder's action junk), phase 1 with
    ``responder`` (sender's action junk). Returns phase-1 rewards and infos."""
    n = core.num_envs
    junk = {a: torch.randint(0, V, (n, L), generator=g) for a in core.possible_agents}
    core.step({"sender": sender, "responder": junk["responder"]})
    _, rew, term, _, infos = core.step(
        {"sender": junk["sender"], "responder": responder}
    )
    assert bool(term["sender"].all()) and bool(term["responder"].all())
    return rew, infos


def parts(obs: torch.Tensor, agent: str):
    """Split an observation into named blocks (default 8x8 digits, L=2, V=32)."""
    out = {"image": obs[:, :IMG], "label": obs[:, IMG : IMG + LABELS]}
    rest = obs[:, IMG + LABELS :]
    if agent == "responder":
        out["message"], rest = rest[:, : L * V], rest[:, L * V :]
    out["phase"] = rest
    return out


# ---------------------------------------------------------------------- payoffs
@pytest.mark.parametrize("payoff", PAYOFFS)
@pytest.mark.parametrize("a_sender", [C, D])
@pytest.mark.parametrize("a_responder", [C, D])
@pytest.mark.parametrize("joint", [True, False])
def test_payoff_table_entries(payoff, a_sender, a_responder, joint):
    core = envs.make_vec(
        "contextual_pd_v0", N, seed=0, payoff=payoff, joint_reward=joint
    )
    core.reset()
    g = torch.Generator().manual_seed(1)
    rew, infos = play(
        core, symbols(a_sender, g), symbols(a_responder, g), torch.Generator()
    )
    parity = infos["sender"]["meaning"][:, 0] % 2
    assert {0, 1} <= set(parity.tolist())  # both label parities were drawn
    want = torch.tensor(
        [EXPECTED[(payoff, a_sender, a_responder, int(p))] for p in parity],
        dtype=torch.float32,
    )
    if joint:
        assert torch.equal(rew["sender"], want.sum(1))
        assert torch.equal(rew["responder"], want.sum(1))
    else:
        assert torch.equal(rew["sender"], want[:, 0])
        assert torch.equal(rew["responder"], want[:, 1])
    assert torch.equal(infos["responder"]["payoffs"], want)
    assert torch.equal(infos["responder"]["joint_return"], want.sum(1))
    best = torch.tensor(joint_optimum(payoff).per_label)
    label = infos["sender"]["meaning"][:, 0]
    assert torch.equal(infos["sender"]["success"], want.sum(1) == best[label])
    acts = torch.tensor([a_sender, a_responder]).expand(N, 2)
    assert torch.equal(infos["sender"]["actions"], acts)


def test_module_table_matches_references():
    for (payoff, a, b, p), r in EXPECTED.items():
        assert tuple(PAYOFF_TABLES[PAYOFFS.index(payoff)][a, b, p]) == r
    assert not PAYOFF_TABLES.flags.writeable


def test_no_payoff_in_phase_zero_and_inactive_actions_ignored():
    core = envs.make_vec("contextual_pd_v0", N, seed=2)
    core.reset()
    g = torch.Generator().manual_seed(0)
    sent = symbols(C, g)
    _, rew, term, _, infos = core.step({"sender": sent, "responder": symbols(D, g)})
    assert not bool(term["sender"].any())
    assert bool((rew["sender"] == 0).all()) and bool((rew["responder"] == 0).all())
    assert torch.equal(infos["sender"]["message"], sent)
    assert bool((infos["sender"]["actions"][:, 1] == -1).all())  # B not acted yet
    assert not bool(infos["sender"]["success"].any())  # nothing paid yet
    assert bool(infos["responder"]["active"].all())
    assert not bool(infos["sender"]["active"].any())
    # Phase 1: a defecting sender action is ignored; the message stays.
    _, rew, *_, infos = core.step({"sender": symbols(D, g), "responder": symbols(C, g)})
    assert torch.equal(infos["sender"]["message"], sent)
    assert bool((infos["sender"]["actions"] == C).all())
    even = infos["sender"]["meaning"][:, 0] % 2 == 0
    assert torch.equal(rew["sender"], torch.where(even, 10.0, 8.0))


# ---------------------------------------------------------------------- optima
def test_optimal_joint_returns():
    assert optimal_joint_return("aim") == 9.0
    assert optimal_joint_return("baseline") == 8.0
    assert optimal_joint_return("parity_coordination") == 2.0
    aim = joint_optimum("aim")
    assert aim.per_label == (10.0, 8.0) * 5
    assert aim.without_message == 9.0  # the faithful game needs no communication
    assert joint_optimum("baseline").per_label == (10.0, 6.0) * 5
    assert joint_optimum("parity_coordination").without_message == 1.0
    core = envs.make_vec("contextual_pd_v0", 1, payoff="baseline")
    assert core.optimal_joint_return() == 8.0
    assert core.joint_optimum().payoff == "baseline"
    with pytest.raises(ValueError, match="payoff.*'nope'"):
        joint_optimum("nope")


def test_always_cooperate_under_aim_gets_the_optimum():
    core = envs.make_vec("contextual_pd_v0", 4000, seed=3)
    core.reset()
    g = torch.Generator().manual_seed(3)
    rew, infos = play(core, symbols(C, g, 4000), symbols(C, g, 4000), g)
    best = torch.tensor(joint_optimum("aim").per_label)
    label = infos["sender"]["meaning"][:, 0]
    assert torch.equal(infos["sender"]["joint_return"], best[label])
    assert torch.equal(rew["sender"], best[label])
    assert bool(infos["sender"]["success"].all())
    assert float(rew["sender"].mean()) == pytest.approx(9.0, abs=0.1)


# ---------------------------------------------------------------------- who sees what
def test_both_agents_see_image_and_label_in_faithful_mode():
    core = envs.make_vec("contextual_pd_v0", N, seed=4)
    obs, infos = core.reset()
    onehot = torch.nn.functional.one_hot(infos["sender"]["meaning"][:, 0], 10).float()
    s, r = parts(obs["sender"], "sender"), parts(obs["responder"], "responder")
    assert torch.equal(s["label"], onehot) and torch.equal(r["label"], onehot)
    assert torch.equal(s["image"], r["image"]) and bool((s["image"].sum(1) > 0).all())
    assert torch.equal(s["phase"], torch.tensor([1.0, 0.0]).expand(N, 2))


def test_sender_only_hides_the_label_from_the_responder():
    core = envs.make_vec("contextual_pd_v0", N, seed=5, label_visibility="sender_only")
    obs, infos = core.reset()
    onehot = torch.nn.functional.one_hot(infos["sender"]["meaning"][:, 0], 10).float()
    g = torch.Generator().manual_seed(0)
    for _ in range(2):
        s, r = parts(obs["sender"], "sender"), parts(obs["responder"], "responder")
        assert torch.equal(s["label"], onehot)
        assert bool((r["label"] == 0).all())
        assert bool((r["image"] == 0).all())  # default: the image is hidden too
        assert bool((s["image"].sum(1) > 0).all())
        obs, *_ = core.step({a: symbols(C, g) for a in core.possible_agents})
    # Opting in to the image keeps the label hidden.
    seen = envs.make_vec(
        "contextual_pd_v0",
        N,
        seed=5,
        label_visibility="sender_only",
        responder_sees_image=True,
    )
    obs, _ = seen.reset()
    r = parts(obs["responder"], "responder")
    assert torch.equal(r["image"], parts(obs["sender"], "sender")["image"])
    assert bool((r["label"] == 0).all())


def test_sender_message_reaches_the_responder_in_phase_one():
    core = envs.make_vec("contextual_pd_v0", N, seed=6)
    obs, _ = core.reset()
    assert bool((parts(obs["responder"], "responder")["message"] == 0).all())
    g = torch.Generator().manual_seed(6)
    sent = torch.randint(0, V, (N, L), generator=g)
    obs, *_ = core.step({"sender": sent, "responder": symbols(C, g)})
    r = parts(obs["responder"], "responder")
    want = torch.nn.functional.one_hot(sent, V).flatten(1).float()
    assert torch.equal(r["message"], want)
    assert torch.equal(r["phase"], torch.tensor([0.0, 1.0]).expand(N, 2))


# ---------------------------------------------------------------------- talking
def test_parity_coordination_needs_the_message():
    n = 4000
    core = envs.make_vec(
        "contextual_pd_v0",
        n,
        seed=7,
        payoff="parity_coordination",
        label_visibility="sender_only",
    )
    g = torch.Generator().manual_seed(7)
    chance = joint_optimum("parity_coordination").without_message
    # Without the message the responder's phase-1 observation is the same in every
    # env, so any policy ignoring the message is label-blind.
    obs, infos = core.reset()
    label = infos["sender"]["meaning"][:, 0]
    sender_msg = torch.stack([label % 2, torch.randint(0, V, (n,), generator=g)], 1)
    obs, *_ = core.step({"sender": sender_msg, "responder": symbols(C, g, n)})
    r = parts(obs["responder"], "responder")
    blind = torch.cat([r["image"], r["label"], r["phase"]], 1)
    assert bool((blind == blind[0]).all())
    # Label-blind responders: always C, always D, a coin flip, or decoding the label
    # block (all zeros) as if it were visible.
    guesses = [
        torch.zeros(n, dtype=torch.long),
        torch.ones(n, dtype=torch.long),
        torch.randint(0, 2, (n,), generator=g),
        r["label"].argmax(1) % 2,
    ]
    half = 3 * (0.25 / n) ** 0.5 * 2  # 3 sigma of a mean of n joint returns in {0, 2}
    for guess in guesses:
        _, infos = core.reset()
        label = infos["sender"]["meaning"][:, 0]
        sent = torch.stack([label % 2, torch.zeros_like(label)], 1)  # C, parity coded
        _, infos = play(core, sent, symbols(guess, g, n), g)
        assert float(infos["sender"]["joint_return"].mean()) <= chance + half
    # A sender encoding the parity in its (cooperative) first symbol and a responder
    # decoding it reach the optimum in every env.
    obs, infos = core.reset()
    label = infos["sender"]["meaning"][:, 0]
    sent = torch.stack([label % 2, torch.zeros_like(label)], 1)
    obs, *_ = core.step({"sender": sent, "responder": symbols(C, g, n)})
    first = parts(obs["responder"], "responder")["message"][:, :V].argmax(1)
    _, rew, *_, infos = core.step(
        {"sender": symbols(D, g, n), "responder": symbols(first % 2, g, n)}
    )
    assert bool((infos["sender"]["joint_return"] == 2.0).all())
    assert float(rew["responder"].mean()) == optimal_joint_return("parity_coordination")


# ---------------------------------------------------------------------- modes
def test_explicit_action_component():
    core = envs.make_vec(
        "contextual_pd_v0", N, seed=8, action_from_first_symbol=False, vocab_size=5
    )
    space = core.action_space("responder")
    assert isinstance(space, spaces.MultiDiscrete)
    assert space.nvec.tolist() == [5, 5, 2]
    # Message + C/D is no pure message: trainers use plain actor-critic heads.
    assert core.message_agents == ()
    assert envs.make_vec("contextual_pd_v0", 1).message_agents == (
        "sender",
        "responder",
    )
    core.reset()
    # The first symbols say D (>= vocab/2) but the last component says C.
    msg = torch.full((N, L), 4)
    act = torch.cat([msg, torch.zeros(N, 1, dtype=torch.long)], 1)
    core.step({"sender": act, "responder": act})
    _, rew, *_, infos = core.step({"sender": act, "responder": act})
    assert bool((infos["sender"]["actions"] == C).all())
    assert torch.equal(infos["sender"]["message"], msg)
    assert torch.equal(infos["sender"]["responder_message"], msg)
    assert bool((rew["sender"] >= 8).all())


def test_task_spec_and_render():
    core = envs.make_vec("contextual_pd_v0", 2, seed=9)
    spec = core.task_spec()
    assert (spec.obs_dim, spec.act_dim, spec.n_actions, spec.history) == (
        IMG + LABELS + L * V,
        1,
        2,
        1,
    )
    assert spec.delta == pytest.approx(np.sqrt(2)) and spec.eps == 0.05
    hidden = envs.make_vec("contextual_pd_v0", 1, label_visibility="sender_only")
    assert hidden.task_spec().obs_dim == L * V
    assert core.task_spec("sender").obs_dim == IMG + LABELS
    _, infos = core.reset()
    g = torch.Generator().manual_seed(9)
    core.step({"sender": symbols(C, g, 2), "responder": symbols(C, g, 2)})
    core.autoreset = False
    core.step({"sender": symbols(C, g, 2), "responder": symbols(D, g, 2)})
    text = core.render_text(0)
    label = int(infos["sender"]["meaning"][0, 0])
    assert f"label: {label}" in text
    assert "action C" in text and "action D" in text
    assert "payoffs: A" in text and "joint" in text


def test_mnist_path(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (40, 28, 28), dtype=np.uint8)
    y = np.arange(40) % 10
    path = tmp_path / "mnist.npz"
    np.savez(path, x=x, y=y)
    core = ContextualPD(3, seed=0, mnist_path=str(path))
    obs, infos = core.reset()
    assert core.obj_dim == 784
    assert obs["sender"].shape == (3, 784 + 10 + 2)
    assert obs["responder"].shape == (3, 784 + 10 + L * V + 2)
    label = infos["sender"]["meaning"][:, 0]
    assert torch.equal(obs["sender"][:, 784 : 784 + 10].argmax(1), label)


# ---------------------------------------------------------------------- bad config
@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"payoff": "nope"}, "payoff.*'nope'"),
        ({"label_visibility": "nobody"}, "label_visibility.*'nobody'"),
        ({"vocab_size": 31}, "vocab_size.*31"),
        ({"vocab_size": 1, "action_from_first_symbol": False}, "vocab_size.*1"),
        ({"message_length": 0}, "message_length.*0"),
        ({"message_length": 1.5}, "message_length.*1.5"),
        ({"joint_reward": "yes"}, "joint_reward.*'yes'"),
        ({"action_from_first_symbol": 1}, "action_from_first_symbol.*1"),
        ({"responder_sees_image": "no"}, "responder_sees_image.*'no'"),
        ({"max_steps": 3}, "max_steps.*3"),
        ({"mnist_path": "/no/such/mnist"}, "/no/such/mnist"),
    ],
)
def test_bad_config_raises(config, match):
    with pytest.raises(ValueError, match=match):
        envs.make_vec("contextual_pd_v0", 2, **config)


def test_odd_vocab_allowed_with_explicit_action():
    core = envs.make_vec(
        "contextual_pd_v0", 2, vocab_size=7, action_from_first_symbol=False
    )
    assert core.action_space("sender").nvec.tolist() == [7, 7, 2]


def test_probe_features_are_the_label_and_its_parity():
    core = envs.make_vec("contextual_pd_v0", 64, seed=0)
    obs, _ = core.reset()
    for _ in range(4):
        label = obs["sender"][:, core.obj_dim : core.obj_dim + 10].argmax(1)
        for agent in ("sender", "responder"):
            feats = core.probe_features(agent)
            assert torch.equal(feats["label"], label)
            assert torch.equal(feats["parity"], label % 2)
        acts = torch.zeros(64, 2, dtype=torch.long)
        obs, *_ = core.step({"sender": acts, "responder": acts})
