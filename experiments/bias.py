"""Representation, simplicity and shortcut bias studies on small models.

Three studies from the inductive-bias literature, each on a model trained here in
a few seconds on a CPU, plus the same probes on a trained AIM run:

1. **Lampinen** (representation bias, Lampinen, Chan & Hermann 2024): an MLP
   (4×256 ReLU) reads 32 ±1 bits and outputs an *easy* feature (one bit) and a
   *hard* one (the parity, XOR, of 2 other bits), both learned to ≥ 99% held-out
   accuracy (SGD with momentum, stopped at the first epoch where both are). Per
   hidden layer we report the variance explained by each feature next to its
   decodability (a linear probe), over seeds. (Parity of 3 bits was not learned
   by SGD within 100 epochs here, so the default is 2.)
2. **Shah** (simplicity bias, Shah et al. 2020): LMS-5 data (1 linear + 49 5-slab
   coordinates, rotated; 10k samples instead of the paper's 100k), MLP 2×100 ReLU
   trained with SGD (lr 0.1, 5 epochs); the randomized AUC triple (standard,
   linear-randomized, slab-randomized).
3. **Hermann** (shortcut bias, Hermann et al. 2024): two equally predictive
   latents (ρ = 0.9), the shortcut amplified 10×; shortcut bias (reliance minus
   that of LDA) of a converged linear model (logistic regression on 20k
   samples), of a linear torch model given the MLPs' budget, and of ReLU MLPs of
   depth 1..3 (width 256, Adam, 5 and 50 epochs on 1k samples).
4. ``--run RUN_DIR``: decodability and variance explained of each meaning
   attribute in the one-hot messages of a trained AIM run
   (``RUN_DIR/messages.npz`` with ``messages [n, L]`` and ``meanings
   [n, n_attributes]``), and the same for the speaker's encoder output on fresh
   targets (the trained weights loaded as ``python -m experiments.probe`` loads a
   run: ``experiments.aim.load_trainer``, native or RLlib backend): how strongly
   each attribute is represented in the encoder and in the codes, and which one
   the channel relies on most. ``python -m experiments.probe RUN_DIR`` probes
   every layer of every agent.

How to run
----------
``python -m experiments.bias`` (all three studies, 3 seeds, ≈40 s on one busy CPU
core; torch runs on ``--threads 1`` by default, which is much faster than two
contended threads for models this small),
``python -m experiments.bias --quick`` (seconds; a smoke run),
``python -m experiments.bias --study shah --seeds 5``,
``python -m experiments.bias --run runs/aim/referential --study none``.
Outputs go to ``--out`` (default ``runs/bias``): ``lampinen.csv``, ``shah.csv``,
``hermann.csv``, ``run.csv`` (one row per seed), ``summary.md`` (mean ± sd over
seeds, and the definition of every quantity, e.g. what ``R_model − R_LDA`` is) and
one PNG per study (means with ± sd error bars over seeds and chance lines), each
written atomically (temp file + ``os.replace``). One progress line per job goes to
stderr.

Results to expect
-----------------
Measured with the defaults (3 seeds, mean):

- Lampinen: both features learned (accuracy 1.0) and decodable at ≈1.0 from
  every hidden layer, but the easy feature explains more variance at every layer:
  easy/hard ≈12× (hidden1), 5× (hidden2), 4× (hidden3), 3.3× (hidden4); the easy
  feature explains ≈0.71 of the last hidden layer, the hard one ≈0.22.
- Shah: standard AUC 1.000, linear-randomized 0.501, slab-randomized 1.000: the
  network relies on the linear coordinate only (the paper: 1.000, 0.507, 1.000).
- Hermann (shortcut bias; 5 / 50 epochs): converged logistic regression −0.00;
  linear torch model 0.92 / 0.63; MLP depth 1 0.79 / 0.14, depth 2 0.33 / 0.13,
  depth 3 0.11 / 0.17. The converged linear model is unbiased and every MLP stays
  positively biased after 50 epochs, but with equal short budgets the bias falls
  with depth and the unconverged linear model is the most biased: much of what
  a fixed budget measures is how fast each model picks up the amplified
  direction. We do not reproduce the paper's "more with depth".
"""

from __future__ import annotations

import csv
import io
import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import torch
from torch import nn

from analysis.models import activations
from analysis.representation import decodability, variance_explained
from analysis.shortcut import lda_reliance, shortcut_bias, shortcut_dataset
from analysis.simplicity import lms_dataset, randomized_auc
from experiments._cli import check_fields, describe
from experiments._cli import parse_args as _cli_parse_args
from experiments._io import atomic_write_bytes
from experiments._progress import JobProgress

Study = Literal["all", "lampinen", "shah", "hermann", "none"]
STUDIES: tuple[str, ...] = get_args(Study)
OPTIMIZERS = ("sgd", "momentum", "adam")


@dataclass(frozen=True)
class Args:
    """Options of ``python -m experiments.bias``."""

    out: str = field(
        default="runs/bias", metadata=describe("Output directory (CSV, summary.md).")
    )
    study: Study = field(
        default="all",
        metadata=describe(
            "Which study to run ('none' with --run probes the run only)."
        ),
    )
    seeds: int = field(default=3, metadata=describe("Seeds per study."))
    quick: bool = field(
        default=False, metadata=describe("Tiny sizes for a smoke test (seconds).")
    )
    run: str | None = field(
        default=None,
        metadata=describe("AIM run directory holding messages.npz to probe."),
    )
    threads: int = field(
        default=1,
        metadata=describe("Torch CPU threads (1 is fastest for these small models)."),
    )
    figures: bool = field(default=True, metadata=describe("Write PNG figures."))

    def __post_init__(self) -> None:
        check_fields(self)
        if self.seeds < 1:
            raise ValueError(f"seeds must be >= 1, got {self.seeds}")
        if self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")
        if self.study == "none" and self.run is None:
            raise ValueError("--study none needs --run RUN_DIR")


# ----------------------------------------------------------------- models


def make_mlp(in_dim: int, hidden: int, depth: int, out_dim: int) -> nn.Sequential:
    """``depth`` Linear+ReLU blocks of width ``hidden``, then a linear read-out."""
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Linear(in_dim, hidden), nn.ReLU()]
        in_dim = hidden
    layers.append(nn.Linear(in_dim, out_dim))
    return nn.Sequential(*layers)


def train_binary(
    model: nn.Module,
    X: np.ndarray,
    Y: np.ndarray,
    *,
    epochs: int,
    lr: float,
    batch_size: int = 128,
    optimizer: str = "sgd",
    seed: int = 0,
    stop: Callable[[nn.Module], bool] | None = None,
) -> nn.Module:
    """Minibatch training of ``model`` on binary targets ``Y`` in {0, 1}.

    ``Y`` is ``[n]`` or ``[n, outputs]`` (one logistic loss per output). ``stop``,
    checked after every epoch, ends training early when it returns True.
    """
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.as_tensor(X, dtype=torch.float32)
    targets = torch.as_tensor(Y, dtype=torch.float32).reshape(len(X), -1)
    if optimizer == "sgd":
        opt: torch.optim.Optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    elif optimizer == "momentum":
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    elif optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=lr)
    else:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(inputs), generator=generator)
        for start in range(0, len(inputs), batch_size):
            rows = order[start : start + batch_size]
            logits = model(inputs[rows]).reshape(len(rows), -1)
            loss = nn.functional.binary_cross_entropy_with_logits(logits, targets[rows])
            opt.zero_grad()
            loss.backward()
            opt.step()
        if stop is not None and stop(model):
            break
    model.eval()
    return model


def logits_of(model: nn.Module, X: np.ndarray) -> np.ndarray:
    """Model outputs ``[n, outputs]`` as numpy, without gradients."""
    with torch.no_grad():
        out = model(torch.as_tensor(X, dtype=torch.float32))
    return out.reshape(len(X), -1).numpy().astype(np.float64)


# --------------------------------------------------------------- Lampinen


@dataclass(frozen=True)
class LampinenConfig:
    """Sizes of the Lampinen study."""

    n_bits: int = 32
    parity_bits: int = 2
    width: int = 256
    depth: int = 4
    n_train: int = 8192
    n_test: int = 2048
    max_epochs: int = 40
    optimizer: str = "momentum"
    lr: float = 0.02
    target_accuracy: float = 0.99


def lampinen_data(
    n: int, *, n_bits: int, parity_bits: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """±1 bits and features ``[easy, hard]`` in ±1 (easy = bit 0, hard = parity).

    The hard feature is the product (parity) of bits ``1 .. parity_bits``.
    """
    rng = np.random.default_rng(seed)
    X = rng.choice(np.array([-1.0, 1.0]), size=(n, n_bits))
    easy = X[:, 0]
    hard = np.prod(X[:, 1 : 1 + parity_bits], axis=1)
    return X, np.stack([easy, hard], axis=1)


def lampinen_study(seed: int, config: LampinenConfig) -> list[dict[str, Any]]:
    """Train the two-feature MLP, then compare variance explained and decodability.

    Returns one row per (hidden layer, feature) with the held-out accuracy of the
    model on that feature, the variance explained (R²) and the probe accuracy.
    """
    X, F = lampinen_data(
        config.n_train + config.n_test,
        n_bits=config.n_bits,
        parity_bits=config.parity_bits,
        seed=seed,
    )
    X_train, F_train = X[: config.n_train], F[: config.n_train]
    X_test, F_test = X[config.n_train :], F[config.n_train :]
    torch.manual_seed(seed)
    model = make_mlp(config.n_bits, config.width, config.depth, 2)

    def accuracy(net: nn.Module) -> np.ndarray:
        return np.mean(np.sign(logits_of(net, X_test)) == F_test, axis=0)

    train_binary(
        model,
        X_train,
        (F_train + 1.0) / 2.0,
        epochs=config.max_epochs,
        lr=config.lr,
        optimizer=config.optimizer,
        seed=seed,
        stop=lambda net: bool(np.all(accuracy(net) >= config.target_accuracy)),
    )
    acc = accuracy(model)
    relus = [name for name, m in model.named_modules() if isinstance(m, nn.ReLU)]
    acts = activations(model, X_test, layers=relus)
    rows = []
    for index, name in enumerate(relus, start=1):
        ve = variance_explained(acts[name], F_test, seed=seed)
        dec = decodability(acts[name], F_test, kind="classification", seed=seed)
        for j, feature in enumerate(("easy", "hard")):
            rows.append(
                {
                    "seed": seed,
                    "layer": f"hidden{index}",
                    "feature": feature,
                    "model_accuracy": float(acc[j]),
                    "variance_explained": float(ve[j]),
                    "decodability": float(dec[j]),
                }
            )
    return rows


def lampinen_ratios(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Per layer: mean (over seeds) easy variance explained / mean hard one.

    ``inf`` when the hard feature explains nothing (mean R² ≤ 0) at that layer.
    """
    ratios = {}
    for layer in dict.fromkeys(r["layer"] for r in rows):
        easy, hard = (
            float(
                np.mean(
                    [
                        r["variance_explained"]
                        for r in rows
                        if r["layer"] == layer and r["feature"] == feature
                    ]
                )
            )
            for feature in ("easy", "hard")
        )
        ratios[layer] = easy / hard if hard > 0 else float("inf")
    return ratios


# ------------------------------------------------------------------- Shah


@dataclass(frozen=True)
class ShahConfig:
    """Sizes of the Shah study (the paper: 100k samples)."""

    n_train: int = 10_000
    n_test: int = 2_000
    dim: int = 50
    slabs: int = 5
    width: int = 100
    depth: int = 2
    epochs: int = 5
    lr: float = 0.1


def shah_study(seed: int, config: ShahConfig) -> dict[str, Any]:
    """Train an MLP on LMS-k and return its randomized AUC triple."""
    X, y, info = lms_dataset(
        config.n_train + config.n_test, dim=config.dim, slabs=config.slabs, seed=seed
    )
    torch.manual_seed(seed)
    model = make_mlp(config.dim, config.width, config.depth, 1)
    train_binary(
        model,
        X[: config.n_train],
        y[: config.n_train],
        epochs=config.epochs,
        lr=config.lr,
        seed=seed,
    )
    result = randomized_auc(
        lambda data: logits_of(model, data)[:, 0],
        X[config.n_train :],
        y[config.n_train :],
        info.linear_coords,
        rotation=info.rotation,
        seed=seed,
    )
    return {"seed": seed, **result.as_dict()}


# ---------------------------------------------------------------- Hermann


@dataclass(frozen=True)
class HermannConfig:
    """Generator and training sizes of the Hermann study."""

    n_train: int = 1_000
    rho: float = 0.9
    alpha_shortcut: float = 10.0
    dim: int = 100
    width: int = 256
    depths: tuple[int, ...] = (1, 2, 3)
    epochs: tuple[int, ...] = (5, 50)
    lr: float = 1e-3
    batch_size: int = 100
    n_linear: int = 20_000


def hermann_study(seed: int, config: HermannConfig) -> list[dict[str, Any]]:
    """Shortcut bias of a linear model and of ReLU MLPs of each depth."""
    from sklearn.linear_model import LogisticRegression

    kwargs = {
        "rho_core": config.rho,
        "rho_shortcut": config.rho,
        "alpha_shortcut": config.alpha_shortcut,
        "dim": config.dim,
        "seed": seed,
    }
    X_lin, y_lin, _, generator = shortcut_dataset(config.n_linear, **kwargs)
    linear = LogisticRegression(max_iter=2000).fit(X_lin, y_lin)
    reference = lda_reliance(generator, n_reference=config.n_linear, seed=seed)
    rows = [
        {
            "seed": seed,
            "model": "linear",
            "depth": 0,
            "epochs": 0,
            "bias": shortcut_bias(linear.predict, generator, reference=reference),
        }
    ]
    X, y = X_lin[: config.n_train], y_lin[: config.n_train]
    # depth 0: a linear torch model with the MLPs' training budget.
    for depth, epochs in itertools.product((0, *config.depths), config.epochs):
        torch.manual_seed(seed)
        model = make_mlp(config.dim, config.width, depth, 1)
        train_binary(
            model,
            X,
            (y + 1) / 2,
            epochs=epochs,
            lr=config.lr,
            batch_size=config.batch_size,
            optimizer="adam",
            seed=seed,
        )

        def predict(data: np.ndarray, net: nn.Module = model) -> np.ndarray:
            return (logits_of(net, data)[:, 0] > 0).astype(np.int64)

        rows.append(
            {
                "seed": seed,
                "model": f"mlp{depth}" if depth else "linear_torch",
                "depth": depth,
                "epochs": epochs,
                "bias": shortcut_bias(predict, generator, reference=reference),
            }
        )
    return rows


# ------------------------------------------------------------- AIM run dir


def run_message_files(run_dir: str | Path) -> list[Path]:
    """The ``messages.npz`` files of a run: ``RUN_DIR/messages.npz`` or, as
    ``python -m experiments.aim`` writes them, ``RUN_DIR/seed_*/messages.npz``."""
    root = Path(run_dir)
    if (root / "messages.npz").is_file():
        return [root / "messages.npz"]
    files = sorted(root.glob("seed_*/messages.npz"))
    if not files:
        raise ValueError(
            f"no messages.npz in run directory {run_dir} (nor in its seed_* folders)"
        )
    return files


def load_run_messages(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read ``messages [n, L]`` and ``meanings [n, n_attributes]`` from a file."""
    path = Path(path)
    with np.load(path) as data:
        missing = {"messages", "meanings"} - set(data.files)
        if missing:
            raise ValueError(f"{path} lacks arrays {sorted(missing)}")
        messages, meanings = data["messages"], data["meanings"]
    if messages.ndim == 1:
        messages = messages[:, None]
    if meanings.ndim == 1:
        meanings = meanings[:, None]
    if messages.ndim != 2 or meanings.ndim != 2 or len(messages) != len(meanings):
        raise ValueError(
            f"messages must be [n, L] and meanings [n, n_attributes] with the same n, "
            f"got {messages.shape} and {meanings.shape}"
        )
    if len(messages) < 4:
        raise ValueError(f"{path} holds {len(messages)} samples; need at least 4")
    return messages.astype(np.int64), meanings.astype(np.int64)


def one_hot_messages(messages: np.ndarray) -> np.ndarray:
    """Concatenated one-hot encoding of every message position, ``[n, L·V]``."""
    vocab = int(messages.max()) + 1
    return np.eye(vocab)[messages].reshape(len(messages), -1)


def _probe_rows(
    source: str, encoded: np.ndarray, meanings: np.ndarray, seed: int
) -> list[dict[str, Any]]:
    """Decodability and variance explained of each attribute in ``encoded``."""
    dec = decodability(encoded, meanings, kind="classification", seed=seed)
    ve = variance_explained(encoded, meanings, seed=seed, categorical=True)
    rows = []
    for j, column in enumerate(meanings.T):
        counts = np.unique(column, return_counts=True)[1]
        rows.append(
            {
                "source": source,
                "attribute": j,
                "decodability": float(dec[j]),
                "majority_baseline": float(counts.max() / len(column)),
                "variance_explained": float(ve[j]),
            }
        )
    return rows


def speaker_encodings(
    seed_dir: Path, *, n: int = 2000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray] | None:
    """The trained speaker's encoder output on ``n`` fresh targets, with meanings.

    Rebuilds the trained weights from the seed folder with the loader of
    ``python -m experiments.probe`` (``experiments.aim.load_trainer``, either
    backend; an RLlib run's local Ray is started for the restore and stopped
    after it); ``None`` when the folder has no usable checkpoint or the env has
    no speaker.
    """
    import envs
    from analysis.models import agent_representations
    from experiments.probe import Args as ProbeArgs
    from experiments.probe import load_models

    try:
        (model,) = load_models(seed_dir, ProbeArgs(models=(str(seed_dir),)))
    except ValueError:
        return None
    env = envs.make_vec(model.env, n, seed=seed + 12345, **model.env_config)
    speakers = [a for a in env.message_agents if a in model.agents]
    if not speakers:
        return None
    obs, info = env.reset()
    if info.meaning is None:
        return None
    net = model.agents[speakers[0]].module
    reps = agent_representations(net, obs[speakers[0]], speak=False)
    return reps.encoding.reshape(n, -1), info.meaning.numpy()


def run_study(run_dir: str | Path, seed: int = 0) -> list[dict[str, Any]]:
    """Per seed and attribute: probe accuracy and variance explained in the messages
    and, for runs with a checkpoint (either backend), in the speaker's encoder
    output.

    Decodability is the held-out accuracy of a logistic probe to the attribute;
    variance explained regresses the representation on the one-hot attribute
    (``categorical=True``).
    """
    rows = []
    for path in run_message_files(run_dir):
        messages, meanings = load_run_messages(path)
        source = str(path.parent.name)
        rows += _probe_rows(source, one_hot_messages(messages), meanings, seed)
        encoded = speaker_encodings(path.parent, seed=seed)
        if encoded is not None:
            rows += _probe_rows(f"{source}/encoder", *encoded, seed)
    return rows


# ----------------------------------------------------------------- output


def write_csv(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """Rows (dicts with the same keys) as CSV, atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(path, buffer.getvalue().encode())


def _mean_std(values: Sequence[float]) -> str:
    values = np.asarray(values, dtype=np.float64)
    return f"{values.mean():.3f} ± {values.std():.3f}"


def _n_seeds(rows: Sequence[dict[str, Any]]) -> int:
    return len({r["seed"] for r in rows}) if rows and "seed" in rows[0] else 1


def _seeds(n: int) -> str:
    return "1 seed" if n == 1 else f"{n} seeds"


HERMANN_LABELS = {
    "linear": "logistic regression (converged)",
    "linear_torch": "linear model",
    "mlp1": "MLP, 1 hidden layer",
    "mlp2": "MLP, 2 hidden layers",
    "mlp3": "MLP, 3 hidden layers",
}
"""Readable names of the Hermann models (the CSV keeps the short ones)."""

DEFINITIONS = {
    "lampinen": [
        "**model acc.**: the network's own held-out accuracy on the feature "
        "(sign of its output).",
        "**variance explained**: R² of a linear regression from the feature alone "
        "to the layer's activations, on held-out inputs: the share of the layer's "
        "variance the feature accounts for (0: none; can dip below 0).",
        "**decodability**: held-out accuracy of a logistic-regression probe that "
        "reads the feature from the layer; chance is 0.5 (both features are "
        "balanced ±1).",
        "**easy / hard**: mean variance explained by the easy feature (one input "
        "bit) over that of the hard one (parity of 2 bits), per layer.",
    ],
    "shah": [
        "**AUC**: area under the ROC curve of the trained MLP on held-out LMS-5 "
        "data; chance is 0.5.",
        "**linear (S) randomized**: the same test data with the linear coordinate "
        "shuffled across samples (its relation to the label destroyed); **slabs "
        "(S^c) randomized**: the 5-slab coordinates shuffled instead.",
        "AUC at chance with S randomized and unchanged with S^c randomized: the "
        "network relies on the linear coordinate only (simplicity bias).",
    ],
    "hermann": [
        "**R (reliance)**: over a 30×30 grid of the two latents, the mean of "
        "ŷ·(sign z_shortcut − sign z_core); +1 for a model that follows only the "
        "shortcut, −1 for one that follows only the core feature.",
        "**R_LDA**: the reliance of linear discriminant analysis fitted on the same "
        "generator, the Bayes-optimal classifier here (it weighs both latents by "
        "their predictivity).",
        "**shortcut bias = R_model − R_LDA**, in [−2, 2]: 0 = leans on the "
        "shortcut exactly as much as the optimal classifier; positive = more.",
        "Both latents predict the label equally (ρ = 0.9); the shortcut is "
        "amplified 10× in input space, so it is easier to pick up.",
    ],
    "run": [
        "**decodability**: held-out accuracy of a logistic-regression probe "
        "reading the attribute from the one-hot messages (or the speaker's encoder "
        "output); **majority baseline**: the accuracy of always guessing the most "
        "frequent value (the chance line).",
        "**variance explained**: R² of a linear regression from the attribute's "
        "one-hot encoding to the representation, on held-out samples.",
    ],
}
"""What each quantity of the report means, per study."""


def _definitions(study: str) -> list[str]:
    return ["", "Definitions:", "", *[f"- {d}" for d in DEFINITIONS[study]], ""]


def summarize(results: dict[str, list[dict[str, Any]]]) -> str:
    """Markdown tables of every study that ran, each with the definitions of its
    quantities."""
    lines = ["# Bias studies", ""]
    if "lampinen" in results:
        rows = results["lampinen"]
        ratios = lampinen_ratios(rows)
        lines += [
            "## Lampinen: variance explained vs decodability "
            f"(mean ± sd over {_seeds(_n_seeds(rows))})",
            "",
            "| layer | feature | model acc. | variance explained | decodability |",
            "|---|---|---|---|---|",
        ]
        for layer in dict.fromkeys(r["layer"] for r in rows):
            for feature in ("easy", "hard"):
                sel = [
                    r for r in rows if r["layer"] == layer and r["feature"] == feature
                ]
                lines.append(
                    f"| {layer} | {feature} | "
                    f"{_mean_std([r['model_accuracy'] for r in sel])} | "
                    f"{_mean_std([r['variance_explained'] for r in sel])} | "
                    f"{_mean_std([r['decodability'] for r in sel])} |"
                )
        lines += ["", "Easy / hard variance explained, per layer: "]
        lines.append(", ".join(f"{k} {v:.2f}×" for k, v in ratios.items()))
        lines += _definitions("lampinen")
    if "shah" in results:
        rows = results["shah"]
        lines += [
            "## Shah: randomized AUC on LMS-5 "
            f"(mean ± sd over {_seeds(_n_seeds(rows))})",
            "",
            "| standard | linear (S) randomized | slabs (S^c) randomized |",
            "|---|---|---|",
            "| "
            + " | ".join(
                _mean_std([r[key] for r in rows])
                for key in ("standard", "s_randomized", "sc_randomized")
            )
            + " |",
        ]
        lines += _definitions("shah")
    if "hermann" in results:
        rows = results["hermann"]
        lines += [
            "## Hermann: shortcut bias R_model − R_LDA "
            f"(mean ± sd over {_seeds(_n_seeds(rows))})",
            "",
            "| model | depth | epochs (0: converged) | shortcut bias |",
            "|---|---|---|---|",
        ]
        for model, epochs in dict.fromkeys((r["model"], r["epochs"]) for r in rows):
            sel = [r for r in rows if r["model"] == model and r["epochs"] == epochs]
            bias = _mean_std([r["bias"] for r in sel])
            name = HERMANN_LABELS.get(model, model)
            lines.append(f"| {name} | {sel[0]['depth']} | {epochs} | {bias} |")
        lines += _definitions("hermann")
    if "run" in results:
        rows = results["run"]
        lines += [
            "## AIM run: meaning attributes in the one-hot messages",
            "",
            "| source | attribute | decodability | majority baseline | "
            "variance explained |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {r['source']} | {r['attribute']} | {r['decodability']:.3f} | "
            f"{r['majority_baseline']:.3f} | {r['variance_explained']:.3f} |"
            for r in rows
        ]
        lines.append("")
        for source in dict.fromkeys(r["source"] for r in rows):
            best = max(
                (r for r in rows if r["source"] == source),
                key=lambda r: r["decodability"],
            )
            lines.append(f"Most decodable attribute ({source}): {best['attribute']}.")
        lines += _definitions("run")
    return "\n".join(lines)


def _save_figure(fig: Any, path: Path) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    atomic_write_bytes(path, buffer.getvalue())


def _stats(rows, key: str, **match: Any) -> tuple[float, float]:
    values = [r[key] for r in rows if all(r[k] == v for k, v in match.items())]
    return float(np.mean(values)), float(np.std(values))


def _lampinen_figure(plt, rows):
    layers = list(dict.fromkeys(r["layer"] for r in rows))
    x = np.arange(1, len(layers) + 1)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    styles = (
        ("easy", "o", "tab:blue", "easy feature (one input bit)"),
        ("hard", "s", "tab:orange", "hard feature (parity of 2 bits)"),
    )
    panels = (
        (
            "variance_explained",
            "Variance explained (R²)",
            (-0.05, 1.0),
            0.0,
            "zero: explains nothing",
        ),
        (
            "decodability",
            "Decodability (linear-probe accuracy)",
            (0.4, 1.03),
            0.5,
            "chance (0.5)",
        ),
    )
    for ax, (metric, title, ylim, chance, chance_label) in zip(axes, panels):
        for feature, marker, colour, label in styles:
            stats = [_stats(rows, metric, layer=lay, feature=feature) for lay in layers]
            mean, sd = np.array(stats).T
            ax.errorbar(
                x, mean, yerr=sd, marker=marker, color=colour, capsize=4, label=label
            )
        ax.axhline(chance, color="0.4", ls="--", lw=1, label=chance_label)
        ax.set_xticks(x, [f"hidden {i}" for i in x])
        ax.set_xlabel("layer of the 4-layer MLP")
        ax.set_ylim(*ylim)
        ax.set_title(title)
        ax.grid(alpha=0.3)
    axes[0].legend(loc="upper left", fontsize=9)
    axes[1].legend(loc="center right", fontsize=9)
    fig.suptitle(
        "Lampinen et al.: both features are decodable everywhere, but the easy one "
        f"dominates the variance (mean ± sd, {_seeds(_n_seeds(rows))})",
        fontsize=11,
    )
    fig.tight_layout()
    return fig


def _hermann_figure(plt, rows):
    keys = list(dict.fromkeys((r["model"], r["epochs"]) for r in rows))
    colours = {0: "tab:gray", 5: "tab:orange", 50: "tab:blue"}
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(keys) + 1.8))
    y = np.arange(len(keys))[::-1]
    for yi, (model, epochs) in zip(y, keys):
        mean, sd = _stats(rows, "bias", model=model, epochs=epochs)
        ax.barh(
            yi,
            mean,
            xerr=sd,
            capsize=4,
            color=colours.get(epochs, "tab:purple"),
            label="converged" if epochs == 0 else f"{epochs} epochs of Adam",
        )
    labels = [
        HERMANN_LABELS.get(m, m) + ("" if e == 0 else f", {e} epochs") for m, e in keys
    ]
    ax.set_yticks(y, labels)
    ax.axvline(0.0, color="black", lw=1)
    ax.text(
        0.0, y[0] + 0.6, " 0 = as the optimal (LDA) classifier", fontsize=8, va="bottom"
    )
    handles, names = ax.get_legend_handles_labels()
    unique = dict(zip(names, handles))
    ax.legend(unique.values(), unique.keys(), loc="lower right", fontsize=9)
    ax.set_xlabel("shortcut bias = R_model − R_LDA (positive: leans on the shortcut)")
    ax.set_ylim(y[-1] - 0.7, y[0] + 1.2)
    ax.set_title(
        "Hermann et al.: shortcut bias by model and training budget "
        f"(mean ± sd, {_seeds(_n_seeds(rows))})",
        fontsize=11,
    )
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def _shah_figure(plt, rows):
    keys = (
        ("standard", "test data as is"),
        ("s_randomized", "linear coordinate\nrandomized (S)"),
        ("sc_randomized", "5-slab coordinates\nrandomized (S^c)"),
    )
    fig, ax = plt.subplots(figsize=(6, 4))
    stats = [_stats(rows, key) for key, _ in keys]
    mean, sd = np.array(stats).T
    ax.bar(
        [label for _, label in keys],
        mean,
        yerr=sd,
        capsize=5,
        color=["tab:gray", "tab:red", "tab:blue"],
    )
    for i, m in enumerate(mean):
        ax.text(i, m + 0.02, f"{m:.3f}", ha="center", fontsize=9)
    ax.axhline(0.5, color="0.3", ls="--", lw=1, label="chance (AUC 0.5)")
    ax.set_ylim(0.0, 1.1)
    ax.set_ylabel("held-out AUC of the 2×100 MLP")
    ax.legend(loc="upper center", fontsize=9)
    ax.set_title(
        "Shah et al.: simplicity bias on LMS-5\nrandomizing the linear coordinate "
        f"alone drops AUC to chance (mean ± sd, {_seeds(_n_seeds(rows))})",
        fontsize=11,
    )
    fig.tight_layout()
    return fig


def _run_figure(plt, rows):
    kinds = {
        "messages": [r for r in rows if "/encoder" not in r["source"]],
        "encoder": [r for r in rows if "/encoder" in r["source"]],
    }
    kinds = {k: v for k, v in kinds.items() if v}
    attributes = sorted({r["attribute"] for r in rows})
    fig, ax = plt.subplots(figsize=(max(5, 1.3 * len(attributes) + 2), 4))
    width = 0.8 / len(kinds)
    colours = {"messages": "tab:blue", "encoder": "tab:green"}
    for i, (kind, sel) in enumerate(kinds.items()):
        stats = [_stats(sel, "decodability", attribute=a) for a in attributes]
        base = [_stats(sel, "majority_baseline", attribute=a)[0] for a in attributes]
        mean, sd = np.array(stats).T
        x = np.arange(len(attributes)) + (i - (len(kinds) - 1) / 2) * width
        label = "one-hot messages" if kind == "messages" else "speaker's encoder"
        spread = sd if len(sel) > len(attributes) else None  # sd needs 2+ seeds
        ax.bar(x, mean, width, yerr=spread, capsize=4, color=colours[kind], label=label)
        ax.scatter(x, base, marker="_", s=300, color="black", zorder=3)
    ax.scatter([], [], marker="_", s=300, color="black", label="majority baseline")
    ax.set_xticks(np.arange(len(attributes)), [f"attribute {a}" for a in attributes])
    ax.set_ylim(0, 1.22)
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.set_ylabel("decodability (probe accuracy)")
    n = len({r["source"].split("/")[0] for r in rows})
    spread = ", mean ± sd" if n > 1 else ""
    ax.set_title(
        f"AIM run: each meaning attribute in the messages ({_seeds(n)}{spread})"
    )
    ax.legend(fontsize=9, loc="upper center", ncol=3)
    fig.tight_layout()
    return fig


def write_figures(results: dict[str, list[dict[str, Any]]], out: Path) -> list[Path]:
    """One PNG per study that ran (matplotlib, Agg backend): means with ± sd error
    bars over seeds, chance lines, and readable labels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    makers = {
        "lampinen": _lampinen_figure,
        "hermann": _hermann_figure,
        "shah": _shah_figure,
        "run": _run_figure,
    }
    written = []
    for name, make in makers.items():
        if name in results and results[name]:
            fig = make(plt, results[name])
            _save_figure(fig, out / f"{name}.png")
            plt.close(fig)
            written.append(out / f"{name}.png")
    return written


# ------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> Args:
    """Build ``Args`` from the command line (exit code 2 on bad input)."""
    return _cli_parse_args(
        Args,
        argv,
        prog="python -m experiments.bias",
        description=__doc__.split("\n\n")[0],
    )


def configs(quick: bool) -> tuple[LampinenConfig, ShahConfig, HermannConfig]:
    """Full or ``--quick`` sizes of the three studies."""
    if not quick:
        return LampinenConfig(), ShahConfig(), HermannConfig()
    return (
        LampinenConfig(width=32, depth=2, n_train=512, n_test=256, max_epochs=3),
        ShahConfig(n_train=500, n_test=200, dim=10, width=16, epochs=1),
        HermannConfig(
            n_train=200, dim=10, width=16, depths=(1,), epochs=(2,), n_linear=1000
        ),
    )


def main(argv: list[str] | None = None) -> dict[str, list[dict[str, Any]]]:
    """Run the studies selected by ``argv``; write CSV, Markdown and figures.

    Returns the rows of every study that ran, keyed by study name.
    """
    args = parse_args(argv)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        return _run(args)
    finally:
        torch.set_num_threads(previous_threads)


def _run(args: Args) -> dict[str, list[dict[str, Any]]]:
    lampinen, shah, hermann = configs(args.quick)
    seeds = [0] if args.quick and args.seeds == Args.seeds else range(args.seeds)
    jobs: list[tuple[str, str, Callable[[], Any]]] = []
    for seed in seeds:
        if args.study in ("all", "lampinen"):
            jobs.append(
                (
                    "lampinen",
                    f"Lampinen: training the {lampinen.depth}x{lampinen.width} MLP "
                    f"on easy + parity features, seed {seed}",
                    lambda s=seed: lampinen_study(s, lampinen),
                )
            )
        if args.study in ("all", "shah"):
            jobs.append(
                (
                    "shah",
                    f"Shah: MLP on LMS-{shah.slabs}, randomized AUC, seed {seed}",
                    lambda s=seed: [shah_study(s, shah)],
                )
            )
        if args.study in ("all", "hermann"):
            jobs.append(
                (
                    "hermann",
                    "Hermann: shortcut bias of a linear model and MLPs of depth "
                    f"{', '.join(map(str, hermann.depths))}, seed {seed}",
                    lambda s=seed: hermann_study(s, hermann),
                )
            )
    if args.run is not None:
        jobs.append(
            (
                "run",
                f"probing the messages and encoder of {args.run}",
                lambda: run_study(args.run),
            )
        )
    results: dict[str, list[dict[str, Any]]] = {}
    start = time.perf_counter()
    progress = JobProgress("bias", [name for name, _, _ in jobs])
    for name, label, job in jobs:
        progress.start(label)
        results.setdefault(name, []).extend(job())
    progress.finish()
    out = Path(args.out)
    for name, rows in results.items():
        write_csv(out / f"{name}.csv", rows)
    summary = summarize(results)
    summary += f"\nWall time: {time.perf_counter() - start:.1f} s.\n"
    atomic_write_bytes(out / "summary.md", summary.encode())
    if args.figures and results:
        write_figures(results, out)
    print(summary)
    return results


if __name__ == "__main__":
    main()
