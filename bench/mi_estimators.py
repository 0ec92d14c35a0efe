"""Mutual-information estimators against a known truth: the table behind the default.

How to run (from the repository root)::

    .venv/bin/python -m bench.mi_estimators                 # full grid, 20 draws
    .venv/bin/python -m bench.mi_estimators --draws 5 --quick
    .venv/bin/python -m bench.mi_estimators --markdown docs/mi_estimators.md

Data: 256 equiprobable meanings; a message is drawn from a code over ``k`` messages
(``k`` up to 256, like our runs' alphabets). Cases:

- ``det k``: deterministic code, ``message = f(meaning)`` with ``f`` a fixed
  random map onto ``k`` messages (true MI = H(f(meaning)));
- ``noisy k p``: ``message = f(meaning)`` with probability ``p``, else uniform
  over the ``k`` messages (true MI from the joint law, exact);
- ``indep k``: message uniform over ``k`` messages, independent (true MI = 0).

Each cell is ``--draws`` independent samples of ``n`` pairs (n = 200 ... 20,000).
Estimators (bits): the options of :func:`analysis.symbols.mutual_information`
(``plugin``, ``miller_madow``, ``jackknife``, ``shuffle``) and candidates written
here from their papers: quadratic extrapolation (Strong et al. 1998: plug-in on the
whole sample, halves and quarters, fit ``I + a/n + b/n²``), Grassberger (2003) and
Chao–Shen (2003) entropies combined as ``H(X) + H(Y) - H(X, Y)``, and NSB
(Nemenman, Shafee & Bialek 2002) entropies given the **true** alphabet sizes (256,
``k`` and ``256·k``, an advantage no real run has). ``ndd`` (the NSB package) does
not build here (its setup needs ``numpy.distutils``/``pkg_resources``), so NSB is
computed here by quadrature over the prior's ``log β`` grid.

Prints the mean ± sd table, the RMSE table and the acceptance check of the default:
RMSE no worse than the jackknife's in every case, and mean error within 0.25 bits
on every deterministic code at n >= 200. ``--markdown PATH`` also writes the tables.

Results to expect (about 3 minutes on one core): see ``docs/mi_estimators.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import special

N_MEANINGS = 256
# The reading of the tables, written into docs/mi_estimators.md with them.
DECISION = """## Decision

The default of `mutual_information` is the **leave-one-out jackknife**: it is the only
candidate that meets the rule (see the acceptance table). Its worst mean error on a
deterministic code is 0.18 bits (256 messages, n = 200), and it is within 0.04 bits
from n = 500 on.

- Grassberger's estimator comes closest: better than the jackknife on most noisy and
  independent cells, but worse on two (deterministic 131-message code at n = 200,
  independent 16-message data at n = 5,000), so it does not meet the rule.
- NSB, even given the true alphabet sizes (which no real run has), is the best
  estimator on noisy and independent data but 0.3-0.7 bits low on deterministic
  codes at n <= 500 (0.1 at n = 1,000): its Dirichlet prior over all 256·k joint
  cells expects the table to fill, which a code never does. It is not shipped:
  `ndd` (the NSB package) does not build here, and `infomeasure` 0.6.3 installs
  but, read from its source, integrates beta over [0, ln K] (the range of xi) and
  leaves unobserved types out of the Dirichlet-mean entropy, so it is not the
  published estimator; a careful implementation of our own (the one in
  `bench/mi_estimators.py`) would not be the default either.
- The shuffle-subtracted value is right only for independent data: on a
  deterministic code it removes most of the information (0.65 of 6.88 bits left at
  n = 200, 2.99 at n = 2,000). It stays as the significance baseline
  (`mi_test`'s permutation null), never as a correction.
- No estimator is near the truth on undersampled noisy or independent tables
  (Paninski 2003): the jackknife reads 0.83 bits for independent 256-message data
  at n = 20,000. `mi_test(...).undersampled` flags these: on this grid every cell
  whose jackknife is off by more than 0.02 bits is flagged in every draw, and
  `mi_test(...).p_value` says whether there is any information at all.

"""
SIZES = (200, 500, 1000, 2000, 5000, 20000)
LN2 = float(np.log(2.0))


# ------------------------------------------------------------------------ cases


@dataclass(frozen=True)
class Case:
    """A joint law of (meaning, message): meanings uniform over 256 values."""

    name: str
    k: int  # messages in the code
    p: float  # probability of the coded message (1: deterministic, 0: independent)
    code: np.ndarray  # f(meaning) in 0..k-1, shape (256,)

    @property
    def deterministic(self) -> bool:
        return self.p == 1.0

    def joint(self) -> np.ndarray:
        """P(meaning, message), shape (256, k)."""
        table = np.full((N_MEANINGS, self.k), (1.0 - self.p) / self.k)
        table[np.arange(N_MEANINGS), self.code] += self.p
        return table / N_MEANINGS

    def true_mi_bits(self) -> float:
        pj = self.joint()
        px, py = pj.sum(1, keepdims=True), pj.sum(0, keepdims=True)
        nz = pj > 0
        return float((pj[nz] * np.log2(pj[nz] / (px @ py)[nz])).sum())

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        meanings = rng.integers(0, N_MEANINGS, n)
        coded = rng.random(n) < self.p
        messages = np.where(coded, self.code[meanings], rng.integers(0, self.k, n))
        return messages, meanings


def make_cases(seed: int = 0) -> list[Case]:
    rng = np.random.default_rng(seed)

    def code(k: int) -> np.ndarray:
        # A fixed random map onto all k messages (every message used).
        f = np.concatenate([np.arange(k), rng.integers(0, k, N_MEANINGS - k)])
        return rng.permutation(f)

    cases = [Case(f"det {k}", k, 1.0, code(k)) for k in (16, 131, 256)]
    cases += [
        Case(f"noisy {k} p={p}", k, p, code(k))
        for k, p in ((256, 0.9), (256, 0.5), (16, 0.5))
    ]
    cases += [Case(f"indep {k}", k, 0.0, code(k)) for k in (16, 256)]
    return cases


# ------------------------------------------------------------------- estimators
# Candidates not shipped by analysis.symbols; each takes dense ids and returns nats.


def _counts(*ids: np.ndarray) -> np.ndarray:
    if len(ids) == 1:
        return np.unique(ids[0], return_counts=True)[1]
    key = ids[0].astype(np.int64) * (int(ids[1].max()) + 1) + ids[1]
    return np.unique(key, return_counts=True)[1]


def _plugin_h(c: np.ndarray) -> float:
    n = c.sum()
    return float(np.log(n) - (c * np.log(c)).sum() / n)


def grassberger_h(c: np.ndarray) -> float:
    """Grassberger (2003): ``ln n - (1/n) Σ n_i G(n_i)``."""
    n = c.sum()
    g = special.digamma(c) + 0.5 * (-1.0) ** c * (
        special.digamma((c + 1) / 2.0) - special.digamma(c / 2.0)
    )
    return float(np.log(n) - (c * g).sum() / n)


def chao_shen_h(c: np.ndarray) -> float:
    """Chao & Shen (2003): coverage-adjusted Horvitz–Thompson entropy."""
    n = c.sum()
    f1 = int(np.sum(c == 1))
    if f1 == n:
        f1 = n - 1  # all singletons: coverage would be 0
    pa = (1.0 - f1 / n) * c / n
    return float(-(pa * np.log(pa) / (1.0 - (1.0 - pa) ** n)).sum())


def nsb_h(c: np.ndarray, k: int) -> float:
    """NSB entropy (nats) for ``k`` possible types, by quadrature over ``log β``.

    Prior over the Dirichlet concentration ``β`` flat in the prior mean entropy
    ``ξ(β) = ψ(kβ + 1) - ψ(β + 1)``; posterior ``∝ dξ/dβ · Γ(kβ)/Γ(n + kβ) ·
    Π_i Γ(n_i + β)/Γ(β)`` over observed types; the answer is the posterior mean of
    the Dirichlet-posterior mean entropy (unobserved types included).
    """
    n = float(c.sum())
    values, mult = np.unique(c, return_counts=True)  # count-of-counts
    k_obs = float(c.size)

    def log_post_and_h(log_beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        b = np.exp(log_beta)[:, None]
        kb = k * b[:, 0]
        dxi = k * special.polygamma(1, kb + 1) - special.polygamma(1, b[:, 0] + 1)
        ll = (
            special.gammaln(kb)
            - special.gammaln(n + kb)
            + (mult * (special.gammaln(values + b) - special.gammaln(b))).sum(1)
        )
        lp = np.log(np.maximum(dxi, 1e-300)) + ll + log_beta  # d beta = beta d log b
        a = n + kb
        h = (
            special.digamma(a + 1)
            - (mult * (values + b) * special.digamma(values + b + 1)).sum(1) / a
            - (k - k_obs) * b[:, 0] * special.digamma(b[:, 0] + 1) / a
        )
        return lp, h

    coarse = np.linspace(np.log(1e-7), np.log(1e7), 600)
    lp, _ = log_post_and_h(coarse)
    top = coarse[np.argmax(lp)]
    keep = coarse[lp > lp.max() - 50.0]
    lo, hi = min(keep.min(), top - 0.1), max(keep.max(), top + 0.1)
    fine = np.linspace(lo, hi, 2000)
    lp, h = log_post_and_h(fine)
    w = np.exp(lp - lp.max())
    return float((w * h).sum() / w.sum())


def _entropy_mi(h: Callable[[np.ndarray], float]) -> Callable:
    def estimate(xi, yi, case, rng):
        return h(_counts(xi)) + h(_counts(yi)) - h(_counts(xi, yi))

    return estimate


def nsb_mi(xi, yi, case: Case, rng) -> float:
    return (
        nsb_h(_counts(xi), case.k)
        + nsb_h(_counts(yi), N_MEANINGS)
        - nsb_h(_counts(xi, yi), case.k * N_MEANINGS)
    )


def quadratic_mi(xi, yi, case, rng, repeats: int = 10) -> float:
    """Strong et al. (1998): extrapolate plug-in(n), plug-in(n/2), plug-in(n/4)."""

    def plugin(a, b):
        return _plugin_h(_counts(a)) + _plugin_h(_counts(b)) - _plugin_h(_counts(a, b))

    n = xi.size
    sizes, values = [n], [plugin(xi, yi)]
    for parts in (2, 4):
        acc = []
        for _ in range(repeats):
            order = rng.permutation(n)
            for chunk in np.array_split(order, parts):
                acc.append(plugin(xi[chunk], yi[chunk]))
        sizes.append(n / parts)
        values.append(float(np.mean(acc)))
    inv = 1.0 / np.asarray(sizes)
    design = np.stack([np.ones(3), inv, inv**2], axis=1)
    return float(np.linalg.solve(design, np.asarray(values))[0])


def shipped(correction: str) -> Callable:
    from analysis.symbols import mutual_information

    def estimate(xi, yi, case, rng):
        return mutual_information(xi, yi, correction=correction, base=np.e)

    return estimate


def estimators() -> dict[str, Callable]:
    return {
        "plugin": shipped("plugin"),
        "miller_madow": shipped("miller_madow"),
        "jackknife": shipped("jackknife"),
        "shuffle": shipped("shuffle"),
        "quadratic": quadratic_mi,
        "grassberger": _entropy_mi(grassberger_h),
        "chao_shen": _entropy_mi(chao_shen_h),
        "nsb_true_k": nsb_mi,
    }


# ------------------------------------------------------------------------- run


@dataclass(frozen=True)
class Cell:
    case: Case
    n: int
    truth: float
    values: dict[str, np.ndarray]  # bits, one per draw
    samples_per_cell: float  # mean n / occupied joint cells
    flagged: float  # share of draws that MITest.undersampled flags
    seconds: dict[str, float]


def run(draws: int = 20, sizes=SIZES, seed: int = 0, only=None) -> list[Cell]:
    from analysis.symbols import UNDERSAMPLED_SINGLETONS

    cases = make_cases(seed)
    est = estimators()
    if only:
        est = {k: v for k, v in est.items() if k in only}
    cells = []
    for case in cases:
        truth = case.true_mi_bits()
        for n in sizes:
            rng = np.random.default_rng([seed, n, case.k, int(case.p * 100)])
            values = {name: np.empty(draws) for name in est}
            seconds = dict.fromkeys(est, 0.0)
            occ, flags = [], []
            for d in range(draws):
                msgs, means = case.sample(n, rng)
                joint = _counts(msgs, means)
                occ.append(n / joint.size)
                flags.append(np.sum(joint == 1) > UNDERSAMPLED_SINGLETONS * n)
                for name, fn in est.items():
                    start = time.perf_counter()
                    values[name][d] = fn(msgs, means, case, rng) / LN2
                    seconds[name] += time.perf_counter() - start
            cells.append(
                Cell(
                    case,
                    n,
                    truth,
                    values,
                    float(np.mean(occ)),
                    float(np.mean(flags)),
                    seconds,
                )
            )
    return cells


def _rmse(cell: Cell, name: str) -> float:
    return float(np.sqrt(np.mean((cell.values[name] - cell.truth) ** 2)))


def _bias(cell: Cell, name: str) -> float:
    return float(abs(np.mean(cell.values[name]) - cell.truth))


def tables(cells: list[Cell], default: str = "jackknife") -> str:
    names = list(cells[0].values)
    out = ["## Mean ± sd over draws (bits)", ""]
    head = "| case | n | n / cells | flagged | true | " + " | ".join(names) + " |"
    out += [head, "|" + "---|" * (5 + len(names))]
    for c in cells:
        vals = " | ".join(
            f"{c.values[k].mean():.2f} ± {c.values[k].std(ddof=1):.2f}" for k in names
        )
        out.append(
            f"| {c.case.name} | {c.n:,} | {c.samples_per_cell:.1f} | "
            f"{c.flagged:.0%} | {c.truth:.2f} | {vals} |"
        )
    out += ["", "## Root-mean-square error (bits)", ""]
    out += ["| case | n | " + " | ".join(names) + " |", "|" + "---|" * (2 + len(names))]
    for c in cells:
        best = min(_rmse(c, k) for k in names)
        row = []
        for k in names:
            r = _rmse(c, k)
            row.append(f"**{r:.3f}**" if r == best else f"{r:.3f}")
        out.append(f"| {c.case.name} | {c.n:,} | " + " | ".join(row) + " |")
    out += ["", "## Acceptance rule", ""]
    out += [
        "RMSE no worse than the jackknife's in every case (a 0.005-bit allowance "
        "for Monte-Carlo noise, draws are paired), and mean error within 0.25 bits "
        "on every deterministic code at n >= 200.",
        "",
        "| estimator | cases worse than jackknife | worst det. bias | passes |",
        "|---|---|---|---|",
    ]
    for k in names:
        worse = [
            f"{c.case.name} n={c.n}"
            for c in cells
            if _rmse(c, k) > _rmse(c, "jackknife") + 0.005
        ]
        det = max(_bias(c, k) for c in cells if c.case.deterministic)
        ok = not worse and det <= 0.25
        shown = f"{len(worse)}" + (f" (e.g. {worse[0]})" if worse else "")
        out.append(f"| {k} | {shown} | {det:.3f} | {'yes' if ok else 'no'} |")
    clean = [_bias(c, default) for c in cells if c.flagged == 0]
    dirty = [_bias(c, default) for c in cells if c.flagged == 1]
    out += [
        "",
        "## The undersampled flag (`MITest.undersampled`)",
        "",
        f"Cells never flagged: {len(clean)}, largest mean error of `{default}` "
        f"{max(clean, default=float('nan')):.3f} bits. Cells always flagged: "
        f"{len(dirty)}, mean errors {min(dirty, default=float('nan')):.3f} to "
        f"{max(dirty, default=float('nan')):.3f} bits. Others: "
        f"{len(cells) - len(clean) - len(dirty)}.",
    ]
    total = {k: sum(c.seconds[k] for c in cells) for k in names}
    out += ["", "## Seconds, all cells", ""]
    out += ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    out.append("| " + " | ".join(f"{total[k]:.1f}" for k in names) + " |")
    out += ["", f"Default of `mutual_information`: `{default}`."]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=20, help="samples per cell")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--quick", action="store_true", help="n in (200, 2000) only (a smoke run)"
    )
    parser.add_argument("--only", nargs="*", help="estimators to run")
    parser.add_argument("--markdown", type=Path, help="also write the tables here")
    args = parser.parse_args(argv)
    from analysis.symbols import DEFAULT_MI_ESTIMATOR

    sizes = (200, 2000) if args.quick else SIZES
    cells = run(args.draws, sizes, args.seed, args.only)
    text = tables(cells, DEFAULT_MI_ESTIMATOR)
    header = (
        f"Command: `python -m bench.mi_estimators --draws {args.draws}"
        f"{' --quick' if args.quick else ''}` (seed {args.seed}, "
        f"{time.strftime('%Y-%m-%d')}).\n"
    )
    print(header)
    print(text)
    if args.markdown:
        args.markdown.write_text(
            "# Mutual-information estimators against a known truth\n\n"
            + (__doc__.split("\n\n", 1)[1].split("Results to expect")[0])
            + header
            + "\n"
            + DECISION
            + text
            + "\n"
        )


if __name__ == "__main__":
    if not __package__:  # run as a file: bench/ must not shadow analysis/
        sys.path[0] = str(Path(__file__).resolve().parents[1])
    main()
