"""experiments.probe: every model kind, planted ground truth, the bad-input lines.

Ground truth used here: the speaker of ``referential_v0`` observes a one-hot of the
target's attributes (plus a phase that is constant while it speaks), so from the
input layer every attribute is decodable with accuracy 1 and explains exactly its
own block, a quarter of the variance (4 attributes); a full-state cart-pole
observation *is* the four probe features, so each is decodable with R² 1 from it; a
layer whose weights are zero is constant, so it explains 0 of every feature and a
ridge probe reads nothing from it (R² ≤ 0).
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from experiments import _cli, aim, probe

FAST = ["--samples", "400", "--num-envs", "32", "--burn-in", "5", "--shuffles", "1"]
AIM_TINY = [
    "--num-envs",
    "32",
    "--num-steps",
    "2",
    "--num-minibatches",
    "2",
    "--update-epochs",
    "1",
    "--hidden",
    "16",
    "--eval-episodes",
    "64",
    "--eval-batch",
    "64",
    "--no-progress",
]


def rows_of(out: Path) -> list[dict[str, str]]:
    with open(out / "probe.csv") as f:
        return list(csv.DictReader(f))


def pick(rows, **where) -> list[dict[str, str]]:
    return [r for r in rows if all(r[k] == v for k, v in where.items())]


def run_probe(tmp_path: Path, *argv: str, name: str = "out") -> Path:
    out = tmp_path / name
    probe.main([*argv, "--out", str(out), *FAST, "--no-figures"])
    return out


def expect_error(tmp_path: Path, capsys, *argv: str, match: str) -> None:
    out = tmp_path / "refused"
    with pytest.raises(SystemExit) as exc:
        probe.main([*argv, "--out", str(out), *FAST])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err  # one line
    assert "error:" in err and match in err, err
    assert not out.exists()  # nothing written


@pytest.fixture(scope="module")
def native_run(tmp_path_factory) -> Path:
    logdir = tmp_path_factory.mktemp("runs")
    aim.main(
        [*AIM_TINY, "--steps", "128", "--seeds", "0", "1"]
        + ["--logdir", str(logdir), "--name", "native"]
    )
    return logdir / "native"


# ---------------------------------------------------------------- aim runs
def test_native_run_every_seed_every_agent_with_planted_truth(native_run, tmp_path):
    out = tmp_path / "out"
    layers = ["--layers", "encoder.*", "critic.4", "context_net.3"]
    probes = probe.main([str(native_run), "--out", str(out), *FAST, *layers])
    assert [p.model.label for p in probes] == ["native/seed_0", "native/seed_1"]
    rows = rows_of(out)
    for seed in (0, 1):
        label = f"native/seed_{seed}"
        assert {r["agent"] for r in pick(rows, model=label)} == {"speaker", "listener"}
        speaker = pick(rows, model=label, agent="speaker", layer="input")
        attrs = [r for r in speaker if r["feature"].startswith("attribute_")]
        assert len(attrs) == 4
        for r in attrs:
            assert float(r["decodability"]) == 1.0
            assert float(r["variance_explained"]) == pytest.approx(0.25, abs=0.03)
            # Shuffled attributes: chance, near the majority class.
            assert float(r["decodability_shuffle"]) < 0.45
            assert 0.2 < float(r["majority_baseline"]) < 0.45
        probed = {r["layer"] for r in pick(rows, model=label, agent="speaker")}
        assert probed == {"input", *(f"encoder.{i}" for i in range(4)), "critic.4"}
    text = (out / "probe.md").read_text()
    assert "native/seed_1 · listener" in text and "## Symbols" in text
    with open(out / "symbols.csv") as f:
        symbols = list(csv.DictReader(f))
    assert [s["agent"] for s in symbols] == ["speaker", "speaker"]
    for s in symbols:
        counts = [int(c) for c in s["symbol_counts"].split()]
        # 400 messages of 2 symbols over a vocabulary of 16.
        assert len(counts) == 16 and sum(counts) == 800
        assert int(s["n_messages"]) == 400
        assert "power_law_alpha" in s or s["power_law_note"].startswith("not fitted")
    assert (out / "probe_decodability.png").stat().st_size > 0
    assert (out / "probe_variance.png").stat().st_size > 0


def test_seed_folder_and_layer_patterns(native_run, tmp_path):
    out = run_probe(tmp_path, str(native_run / "seed_1"), "--layers", "encoder.*")
    rows = rows_of(out)
    assert {r["model"] for r in rows} == {"native/seed_1"}
    speaker_layers = {r["layer"] for r in pick(rows, agent="speaker")}
    assert speaker_layers == {
        "input",
        "encoder.0",
        "encoder.1",
        "encoder.2",
        "encoder.3",
    }


def test_collected_features_describe_the_observations(native_run):
    """The recorded rows are aligned: the features are the attributes the speaker's
    one-hot observation shows."""
    (model,) = probe.load_models(native_run / "seed_0", probe.Args(models=("x",)))
    inputs = probe.collect_inputs(model, samples=100, num_envs=16, burn_in=0, seed=3)
    speaker = inputs["speaker"]
    assert speaker.obs.shape == (100, 18) and speaker.meanings.shape == (100, 4)
    for a, column in enumerate(speaker.columns[:4]):
        assert column.name == f"attribute_{a}"
        shown = speaker.obs[:, 4 * a : 4 * (a + 1)].argmax(1)
        np.testing.assert_array_equal(shown, column.values)
        np.testing.assert_array_equal(speaker.meanings[:, a], column.values)
    assert speaker.actions.shape == (100, 2)  # the messages it sent
    assert inputs["listener"].obs.shape[0] == 100


def test_a_run_is_probed_on_its_own_env(native_run, tmp_path, capsys):
    expect_error(
        tmp_path,
        capsys,
        str(native_run),
        "--env",
        "cartpole_v0",
        match="was trained on referential_v0",
    )


# ---------------------------------------------------------------- torch modules
def save_mlp(tmp_path: Path, name: str, *, scale: float, env_config: dict) -> Path:
    from agents.networks import mlp

    module = mlp(4, 4, None, layers=1)
    with torch.no_grad():
        module[0].weight.copy_(scale * torch.eye(4))
        module[0].bias.zero_()
    path = tmp_path / f"{name}.pt"
    torch.save(module.state_dict(), path)
    card = probe.ModelCard(
        env="cartpole_v0",
        env_config=env_config,
        constructor="agents.networks.mlp",
        kwargs={"in_dim": 4, "hidden": 4, "out_dim": None, "layers": 1},
    )
    probe.write_model_card(path, card)
    return path


def test_torch_state_dicts_with_planted_weights(tmp_path):
    identity = save_mlp(tmp_path, "identity", scale=0.01, env_config={})
    dead = save_mlp(tmp_path, "dead", scale=0.0, env_config={})
    out = run_probe(tmp_path, str(identity), str(dead))
    rows = rows_of(out)
    features = ("cart_position", "cart_velocity", "pole_angle", "pole_angular_velocity")
    for feature in features:
        (inp,) = pick(rows, model="identity", layer="input", feature=feature)
        assert float(inp["decodability"]) > 0.999  # the observation is the state
        assert float(inp["decodability_shuffle"]) < 0.05
        assert math.isnan(float(inp["majority_baseline"]))  # continuous
        # tanh(0.01 x) is linear to 1e-4 on cart-pole's range: still decodable.
        (hidden,) = pick(rows, model="identity", layer="1", feature=feature)
        assert float(hidden["decodability"]) > 0.999
        # A constant layer: explains nothing, decodes nothing.
        for layer in ("0", "1"):
            (flat,) = pick(rows, model="dead", layer=layer, feature=feature)
            assert float(flat["variance_explained"]) == 0.0
            assert float(flat["decodability"]) <= 0.0
    # Closed form for an input that is the features themselves: a feature f
    # explains sum_j corr(f, f_j)^2 var(f_j) / sum_j var(f_j) of it.
    (model,) = probe.load_models(identity, probe.Args(models=("x",)))
    args = probe.parse_args(["x", *FAST])
    inputs = probe.collect_inputs(
        model,
        samples=args.samples,
        num_envs=args.num_envs,
        burn_in=args.burn_in,
        record_prob=args.record_prob,
        seed=args.seed,
    )["cart_0"]
    state = np.stack([c.values for c in inputs.columns], 1).astype(np.float64)
    np.testing.assert_allclose(inputs.obs, state, rtol=1e-6)
    corr2 = np.corrcoef(state.T) ** 2
    variances = state.var(0)
    expected = corr2 @ variances / variances.sum()
    for j, feature in enumerate(features):
        (r,) = pick(rows, model="identity", layer="input", feature=feature)
        assert float(r["variance_explained"]) == pytest.approx(expected[j], abs=0.03)
    md = (out / "probe.md").read_text()
    assert "cart_0: uniform random" in md  # an mlp without out_dim cannot act


def test_torch_module_of_our_agent_network(tmp_path):
    import envs
    from agents.networks import build_agent_of
    from agents.spec import NetworkConfig, TrainSpec

    core = envs.make_vec("cartpole_v0", 1, observe="position", history=2)
    spec = TrainSpec(env="cartpole_v0", network=NetworkConfig(hidden=8))
    net = build_agent_of(core, "cart_0", spec)
    path = tmp_path / "actor.pt"
    torch.save(net.state_dict(), path)
    probe.write_model_card(
        path,
        probe.ModelCard(
            env="aim/CartPole-POMDP-v0",
            env_config={"history": 2},
            constructor="agents.networks.build_agent_of",
            kwargs={"hidden": 8},
        ),
    )
    out = run_probe(tmp_path, str(path))
    rows = rows_of(out)
    assert {r["layer"] for r in rows} >= {"input", "actor.1", "actor.3", "critic.4"}
    assert "cart_0: the model's greedy policy" in (out / "probe.md").read_text()


# ---------------------------------------------------------------- SB3
def save_sb3(tmp_path: Path, gym_id: str, *, card: bool, **kwargs) -> Path:
    import gymnasium
    from stable_baselines3 import PPO

    import envs  # noqa: F401  (registers the aim/ ids)

    env = gymnasium.make(gym_id, **kwargs)
    model = PPO("MlpPolicy", env, n_steps=16, batch_size=16, seed=0, device="cpu")
    path = tmp_path / "policy.zip"
    model.save(path)
    if card:
        probe.write_model_card(path, probe.ModelCard(env=gym_id, env_config=kwargs))
    return path


def test_sb3_zip_with_its_model_card(tmp_path):
    pytest.importorskip("stable_baselines3")
    path = save_sb3(tmp_path, "aim/CartPole-v0", card=True)
    out = run_probe(tmp_path, str(path))
    rows = rows_of(out)
    assert {r["model"] for r in rows} == {"policy"}
    layers = {r["layer"] for r in rows}
    assert {"input", "mlp_extractor.policy_net.1", "action_net"} <= layers
    for r in pick(rows, layer="input"):
        assert float(r["decodability"]) > 0.999  # full state observed
    assert "stable-baselines3 policy" in (out / "probe.md").read_text()


def test_sb3_zip_needs_an_env_and_refuses_another(tmp_path, capsys):
    pytest.importorskip("stable_baselines3")
    path = save_sb3(tmp_path, "aim/CartPole-POMDP-v0", card=False, history=2)
    expect_error(tmp_path, capsys, str(path), match="records no env: pass --env")
    # Same 4-D shape as position-only history 2, but other bounds: another env.
    expect_error(
        tmp_path, capsys, str(path), "--env", "aim/CartPole-v0", match="another env"
    )
    out = run_probe(
        tmp_path,
        str(path),
        "--env",
        "aim/CartPole-POMDP-v0",
        "--env-config",
        '{"history": 2}',
    )
    assert rows_of(out)


def test_sb3_data_is_never_unpickled(tmp_path, monkeypatch):
    """The zip's pickled entries (spaces, schedules, classes) are not loaded."""
    pytest.importorskip("stable_baselines3")
    import cloudpickle

    path = save_sb3(tmp_path, "aim/CartPole-v0", card=True)

    def refuse(*args, **kwargs):
        raise AssertionError("cloudpickle.loads was called")

    monkeypatch.setattr(cloudpickle, "loads", refuse)
    monkeypatch.setattr("pickle.loads", refuse)
    (model,) = probe.load_models(path, probe.Args(models=(str(path),)))
    assert model.env == "cartpole_v0" and list(model.agents) == ["cart_0"]


# ---------------------------------------------------------------- RLlib
def build_aim_modules(spec):
    from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec

    from agents.rllib import AimMultiRLModule, module_specs

    specs, _, _ = module_specs(spec)
    multi = MultiRLModuleSpec(
        multi_rl_module_class=AimMultiRLModule, rl_module_specs=specs
    )
    return multi.build()


def test_rllib_module_checkpoint_gives_the_native_rows(native_run, tmp_path):
    pytest.importorskip("ray.rllib")
    stored = _cli.from_dict(
        aim.Args, json.loads((native_run / "config.json").read_text())
    )
    spec = stored.spec(0)
    module = build_aim_modules(spec)
    ckpt = tmp_path / "rl_module"
    module.save_to_path(str(ckpt))
    layers = ["--layers", "encoder.*", "context_net.*", "critic.4"]
    out = run_probe(tmp_path, str(ckpt), str(native_run / "seed_0"), *layers)
    rows = rows_of(out)
    keys = {
        label: {(r["agent"], r["layer"], r["feature"]) for r in pick(rows, model=label)}
        for label in ("rl_module", "native/seed_0")
    }
    assert keys["rl_module"] == keys["native/seed_0"]  # same report rows
    for r in pick(rows, model="rl_module", agent="speaker", layer="input"):
        if r["feature"].startswith("attribute_"):
            assert float(r["decodability"]) == 1.0
    assert (
        "only probe RLlib checkpoints and runs you trust"
        in (out / "probe.md").read_text()
    )


def test_foreign_rllib_module_on_a_given_env(tmp_path, capsys):
    pytest.importorskip("ray.rllib")
    import gymnasium as gym
    from ray.rllib.algorithms.ppo.ppo_catalog import PPOCatalog
    from ray.rllib.algorithms.ppo.torch.default_ppo_torch_rl_module import (
        DefaultPPOTorchRLModule,
    )
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    import envs

    core = envs.make_vec("cartpole_v0", 1)

    def save(name, obs_space):
        spec = RLModuleSpec(
            module_class=DefaultPPOTorchRLModule,
            observation_space=obs_space,
            action_space=core.action_space("cart_0"),
            catalog_class=PPOCatalog,
            model_config={"fcnet_hiddens": [8, 8]},
        )
        spec.build().save_to_path(str(tmp_path / name))
        return str(tmp_path / name)

    good = save("ppo_module", core.observation_space("cart_0"))
    other = save("other_module", gym.spaces.Box(-1.0, 1.0, (4,)))
    expect_error(tmp_path, capsys, good, match="records no env")
    expect_error(tmp_path, capsys, other, "--env", "cartpole_v0", match="another env")
    out = run_probe(tmp_path, good, "--env", "cartpole_v0")
    rows = rows_of(out)
    assert any(r["layer"].startswith("encoder") for r in rows)
    for r in pick(rows, layer="input"):
        assert float(r["decodability"]) > 0.999


# ---------------------------------------------------------------- bad input
def test_a_path_of_no_supported_kind(tmp_path, capsys):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    expect_error(tmp_path, capsys, str(text), match="is not a model this probe reads")
    (tmp_path / "empty").mkdir()
    expect_error(
        tmp_path, capsys, str(tmp_path / "empty"), match="is not a model this probe"
    )
    expect_error(
        tmp_path, capsys, str(tmp_path / "missing"), match="no such file or directory"
    )
    fake = tmp_path / "fake.zip"
    fake.write_bytes(b"not a zip")
    expect_error(tmp_path, capsys, str(fake), match="is not a model this probe reads")


def test_state_dict_without_a_card_or_pickled_code(tmp_path, capsys):
    bare = tmp_path / "bare.pt"
    torch.save({"w": torch.zeros(2)}, bare)
    expect_error(tmp_path, capsys, str(bare), match="needs a model card")
    evil = tmp_path / "evil.pt"
    torch.save({"w": torch.zeros(2), "x": object()}, evil)  # needs pickle to load
    probe.write_model_card(
        evil,
        probe.ModelCard(
            env="cartpole_v0",
            constructor="agents.networks.mlp",
            kwargs={"in_dim": 4, "hidden": 4},
        ),
    )
    expect_error(tmp_path, capsys, str(evil), match="cannot be loaded as tensors")


def test_a_model_whose_layers_produce_no_tensors(tmp_path, capsys):
    path = tmp_path / "empty.pt"
    torch.save({}, path)  # mlp(..., layers=0) without out_dim has no layers
    probe.write_model_card(
        path,
        probe.ModelCard(
            env="cartpole_v0",
            constructor="agents.networks.mlp",
            kwargs={"in_dim": 4, "hidden": 4, "layers": 0},
        ),
    )
    expect_error(tmp_path, capsys, str(path), match="none of its layers produced")


def test_a_state_dict_of_another_env(tmp_path, capsys):
    path = save_mlp(tmp_path, "full", scale=1.0, env_config={})
    card = probe.read_model_card(path)
    probe.write_model_card(
        path,
        probe.ModelCard(**{**card.__dict__, "env_config": {"observe": "position"}}),
    )
    expect_error(tmp_path, capsys, str(path), match="another env")
    probe.write_model_card(path, card)
    expect_error(
        tmp_path, capsys, str(path), "--env", "reach_v0", match="is a model of cartpole"
    )


def test_an_env_without_declared_features(tmp_path, capsys, monkeypatch):
    from envs.cartpole import CartPole

    path = save_mlp(tmp_path, "m", scale=1.0, env_config={})
    monkeypatch.setattr(CartPole, "probe_feature_specs", lambda self, agent: ())
    expect_error(tmp_path, capsys, str(path), match="declares no probe features")


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["x", "--samples", "0"],
        ["x", "--record-prob", "1.5"],
        ["x", "--no-such-flag"],
        ["x", "--env-config", "[1]"],
    ],
)
def test_bad_flags_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        probe.main(argv)
    assert exc.value.code == 2


def test_every_flag_has_help_and_models_are_positional(capsys):
    parser = _cli.build_parser(probe.Args, prog="probe", description="")
    text = parser.format_help()
    for leaf in _cli.flat_fields(probe.Args).values():
        assert leaf.field.metadata.get("help"), leaf.name
        if leaf.field.metadata.get("flag", True):
            assert leaf.flag in text
    args = probe.parse_args(["a", "--samples", "50", "b", "--env", "cartpole_v0"])
    assert args.models == ("a", "b") and args.samples == 50
    assert args.env == "cartpole_v0"


def test_config_file_sets_options_and_flags_override_it(tmp_path, capsys):
    config = tmp_path / "probe.json"
    config.write_text(json.dumps({"samples": 77, "env-config": {"history": 2}}))
    args = probe.parse_args(["m", "--config", str(config), "--seed", "3"])
    assert (args.samples, args.env_config, args.seed) == (77, {"history": 2}, 3)
    args = probe.parse_args(["m", "--config", str(config), "--samples", "20"])
    assert args.samples == 20
    config.write_text(json.dumps({"sample": 5}))
    with pytest.raises(SystemExit) as exc:
        probe.parse_args(["m", "--config", str(config)])
    assert exc.value.code == 2 and "unknown key 'sample'" in capsys.readouterr().err


def test_model_card_round_trip_and_bad_constructor(tmp_path):
    card = probe.ModelCard(env="cartpole_v0", env_config={"history": 2}, agent="cart_0")
    path = probe.write_model_card(tmp_path / "m.zip", card)
    assert path == tmp_path / "m.json"
    assert probe.read_model_card(tmp_path / "m.zip") == card
    path.write_text(json.dumps({"constructor": "os.system"}))
    with pytest.raises(ValueError, match="constructor must be one of"):
        probe.read_model_card(tmp_path / "m.zip")


def test_resolve_env_names_and_gym_ids():
    assert probe.resolve_env("aim/CartPole-POMDP-v0", {"history": 3}) == (
        "cartpole_v0",
        {"observe": "position", "history": 3},
    )
    assert probe.resolve_env("reach_v0") == ("reach_v0", {})
    with pytest.raises(ValueError, match="unknown env"):
        probe.resolve_env("CartPole-v1")


# ---------------------------------------------------------------- slow: real runs
@pytest.mark.slow
def test_real_short_sb3_and_rllib_runs(tmp_path):
    """A real short SB3 PPO run and a real short RLlib run, probed together."""
    pytest.importorskip("stable_baselines3")
    pytest.importorskip("ray.rllib")
    import gymnasium
    from stable_baselines3 import PPO
    from stable_baselines3.common.logger import Logger

    import envs  # noqa: F401

    env = gymnasium.make("aim/CartPole-v0")
    model = PPO("MlpPolicy", env, n_steps=256, batch_size=64, seed=0, device="cpu")
    model.set_logger(Logger(folder=None, output_formats=[]))  # no /tmp/SB3-* folder
    model.learn(4096)
    zip_path = tmp_path / "ppo.zip"
    model.save(zip_path)
    probe.write_model_card(zip_path, probe.ModelCard(env="aim/CartPole-v0"))
    logdir = tmp_path / "runs"
    aim.main(
        ["--backend", "rllib", "--steps", "256", "--num-envs", "64", "--num-steps"]
        + ["2", "--num-minibatches", "2", "--num-envs-per-env-runner", "4"]
        + ["--eval-episodes", "50", "--no-progress", "--logdir", str(logdir)]
        + ["--name", "rllib"]
    )
    import ray

    ray.shutdown()  # the probe starts (and stops) its own
    run_dir = logdir / "rllib"
    ckpt = run_dir / "seed_0" / "checkpoints" / "latest"
    out = run_probe(tmp_path, str(run_dir), str(ckpt), str(zip_path))
    assert not ray.is_initialized()
    rows = rows_of(out)
    labels = {r["model"] for r in rows}
    assert labels == {"rllib/seed_0", "rllib/seed_0/checkpoints/latest", "ppo"}
    run_rows = pick(rows, model="rllib/seed_0")
    ckpt_rows = pick(rows, model="rllib/seed_0/checkpoints/latest")
    # The run (restored through load_trainer's native copy) and its checkpoint
    # (read as RLModules) are the same weights: identical numbers.
    assert [(r["agent"], r["layer"], r["feature"]) for r in run_rows] == [
        (r["agent"], r["layer"], r["feature"]) for r in ckpt_rows
    ]
    for a, b in zip(run_rows, ckpt_rows):
        assert a["decodability"] == b["decodability"]
    assert {r["agent"] for r in run_rows} == {"speaker", "listener"}
    assert any(r["layer"] == "encoder.3" for r in pick(run_rows, agent="speaker"))
    sb3 = pick(rows, model="ppo", feature="cart_velocity")
    assert float(pick(sb3, layer="input")[0]["decodability"]) > 0.999
    # experiments.bias --run loads runs the same way: encoder rows for RLlib too.
    from experiments.bias import run_study

    study = run_study(run_dir)
    assert {r["source"] for r in study} == {"seed_0", "seed_0/encoder"}
    assert not ray.is_initialized()


# ---------------------------------------------------------------- gendiff agents
def test_gendiff_native_reach_saves_and_probes_its_movers(tmp_path):
    from experiments import gendiff

    argv = ["--no-envs", "--no-plot", "--quiet", "--native-reach"]
    argv += ["--native-dims", "2", "--native-steps", "2048", "--seeds", "1"]
    argv += ["--eval-episodes", "1", "--probe-samples", "300", "--out", str(tmp_path)]
    gendiff.main(argv)
    agents = tmp_path / "agents"
    for goal in ("visible", "hidden"):
        path = agents / f"reach_dim2_goal_{goal}_seed0.pt"
        card = probe.read_model_card(path)
        assert card.constructor == "agents.networks.build_agent_of"
        assert card.env == "reach_v0" and card.env_config["goal_visible"] == (
            goal == "visible"
        )
    rows = rows_of(tmp_path / "probe_native_reach")
    for goal, expect in (("visible", 1.0), ("hidden", 0.0)):
        # The goal is part of the mover's observation only when visible.
        inputs = pick(rows, model=f"reach_dim2_goal_{goal}_seed0", layer="input")
        r2 = [float(r["decodability"]) for r in inputs if r["feature"][:5] == "goal["]
        assert len(r2) == 2
        assert all(abs(v - expect) < 0.15 for v in r2), (goal, r2)
    md = (tmp_path / "native_reach.md").read_text()
    assert "(probe_native_reach/probe.md)" in md
    assert "reach_dim2_goal_hidden_seed0" in md


@pytest.mark.slow
def test_gendiff_empirical_saves_and_probes_its_agents(tmp_path):
    pytest.importorskip("stable_baselines3")
    from experiments import gendiff

    argv = ["--no-envs", "--no-plot", "--quiet", "--empirical", "--timesteps"]
    argv += ["1024", "--eval-every", "512", "--eval-episodes", "1", "--seeds", "1"]
    argv += ["--histories", "2", "--n-hypotheses", "6", "--hypothesis-epochs", "20"]
    argv += ["--probe-samples", "400", "--out", str(tmp_path)]
    gendiff.main(argv)
    for stem in ("full_T1", "position_T1", "position_T2"):
        path = tmp_path / "agents" / f"cartpole_{stem}_seed0.zip"
        assert path.is_file() and probe.read_model_card(path).env.startswith("aim/")
    with open(tmp_path / "probe_velocity.csv") as f:
        table = list(csv.DictReader(f))
    inputs = {r["task"]: r for r in table if r["layer"] == "input"}
    assert set(inputs) == {
        "CartPole full T=1",
        "CartPole position T=1",
        "CartPole position T=2",
    }
    # Ground truth: the full state holds both velocities; two position frames hold
    # them as finite differences; one frame does not.
    full, one, two = (
        inputs[f"CartPole {t}"] for t in ("full T=1", "position T=1", "position T=2")
    )
    for key in ("cart_velocity_r2", "pole_angular_velocity_r2"):
        assert float(full[key]) > 0.99
        assert float(two[key]) > 0.8
        assert float(one[key]) < float(two[key]) - 0.3
    assert "input insufficient" in one["note"]
    for row in (full, one, two):  # every probed agent's return, from its card
        assert 0 < float(row["final_return"]) <= 500
    md = (tmp_path / "empirical.md").read_text()
    assert "(probe_empirical/probe.md)" in md and "cartpole_position_T1_seed0" in md
