"""Timing of the symbol and language metrics on seeded synthetic data.

How to run (from the repository root)::

    .venv/bin/python -m bench.analysis              # 1M symbols, 10k messages
    .venv/bin/python -m bench.analysis --scale 0.1
    .venv/bin/python -m bench.analysis --rates      # power-law verdict rates too

(``python bench/analysis.py`` works too: the script then puts the repository root
first on ``sys.path`` so that this file does not shadow the ``analysis`` package.)

Prints a Markdown table (operation, size, seconds). Each row is one call, timed
with ``time.perf_counter`` after a warm-up import; data are Zipf-distributed symbol
ids (exponent 2) and uniform random meanings, seeded.

``--rates`` adds the power-law goodness-of-fit and verdict rates on synthetic data
(``--rate-sets`` data sets of 2,000 values per law, 100 bootstrap sets each): the
table behind :func:`analysis.symbols.power_law_verdict`'s docstring.

Results to expect (2 shared CPU cores): every row finishes in seconds. The
goodness-of-fit bootstrap (each synthetic set refits ``xmin`` and ``alpha`` over
every candidate, vectorised) costs about 4.5 ms a set at 2,000 Zipf values: a fit
went from 0.13 s without it to 0.58 s with the default 100 sets and 6.7 s with
1,000 (2026-11-30, one otherwise idle core; 2-3x that while the cores are shared).
``message_report`` on 10,000 messages x 8 took 2.1 s (permutation test, per-
attribute MI and four chance floors of 10 re-pairings each included). The power-law
fit of the raw 1M values is the slowest operation (the ``powerlaw`` package scans
every candidate ``xmin`` and fits a truncated power law for the comparison), so the
headline power-law row fits the frequency table of the 1M symbol tokens, which is
the quantity studied for emergent vocabularies.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np


def _time(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run(scale: float = 1.0, seed: int = 0) -> list[tuple[str, str, float]]:
    """Time each operation; return ``(operation, size, seconds)`` rows."""
    from analysis.language import message_report, topographic_similarity
    from analysis.symbols import mi_test, mutual_information, power_law_fit, zipf_fit

    rng = np.random.default_rng(seed)
    n_symbols = int(1_000_000 * scale)
    n_messages = int(10_000 * scale)
    n_raw = int(100_000 * scale)
    symbols = np.minimum(rng.zipf(2.0, n_symbols), 4096) - 1  # vocab of 4096
    symbol_meaning = (symbols % 100 + rng.integers(0, 5, n_symbols)) % 100
    freqs = np.bincount(symbols)
    messages = np.minimum(rng.zipf(2.0, (n_messages, 8)), 16) - 1
    meanings = rng.integers(0, 10, (n_messages, 4))
    all_pairs = n_messages * (n_messages - 1) // 2
    few, many = min(20_000, all_pairs), min(1_000_000, all_pairs)

    pl_2000 = rng.zipf(2.0, 2000)
    two = ("lognormal", "exponential")
    rows = [
        (
            "power_law_fit (symbol frequency table)",
            f"{n_symbols:,} symbols, {np.count_nonzero(freqs):,} types",
            _time(lambda: power_law_fit(freqs)),
        ),
        (
            "power_law_fit, no truncated-power-law comparison",
            f"{n_symbols:,} symbols, {np.count_nonzero(freqs):,} types",
            _time(lambda: power_law_fit(freqs, alternatives=two)),
        ),
        (
            "power_law_fit (raw values)",
            f"{n_raw:,} values",
            _time(lambda: power_law_fit(symbols[:n_raw] + 1)),
        ),
        (
            "power_law_fit, gof_bootstrap=None (no GOF test)",
            "2,000 values, Zipf 2.0",
            _time(lambda: power_law_fit(pl_2000, alternatives=two, gof_bootstrap=None)),
        ),
        (
            "power_law_fit, gof_bootstrap=100 (default)",
            "2,000 values, Zipf 2.0",
            _time(lambda: power_law_fit(pl_2000, alternatives=two)),
        ),
        (
            "power_law_fit, gof_bootstrap=1000",
            "2,000 values, Zipf 2.0",
            _time(lambda: power_law_fit(pl_2000, alternatives=two, gof_bootstrap=1000)),
        ),
        (
            "mi_test (200 permutations)",
            f"{n_messages:,} messages x 8",
            _time(lambda: mi_test(messages, meanings)),
        ),
        (
            "zipf_fit",
            f"{n_symbols:,} symbols",
            _time(lambda: zipf_fit(freqs)),
        ),
        (
            "mutual_information, jackknife (the default)",
            f"{n_symbols:,} symbol/meaning pairs",
            _time(lambda: mutual_information(symbols, symbol_meaning)),
        ),
        (
            "mutual_information, jackknife, whole rows",
            f"{n_messages:,} messages x 8",
            _time(lambda: mutual_information(messages, meanings)),
        ),
        (
            "mutual_information shuffle (100)",
            f"{n_symbols:,} symbol/meaning pairs",
            _time(
                lambda: mutual_information(
                    symbols, symbol_meaning, correction="shuffle"
                )
            ),
        ),
        (
            "mutual_information shuffle (100), whole rows",
            f"{n_messages:,} messages x 8",
            _time(lambda: mutual_information(messages, meanings, correction="shuffle")),
        ),
        (
            "topographic_similarity (hamming/edit)",
            f"{n_messages:,} messages, {few:,} pairs",
            _time(lambda: topographic_similarity(messages, meanings, max_pairs=few)),
        ),
        (
            "topographic_similarity (hamming/edit)",
            f"{n_messages:,} messages, {many:,} pairs",
            _time(lambda: topographic_similarity(messages, meanings, max_pairs=many)),
        ),
        (
            "message_report",
            f"{n_messages:,} messages x 8",
            _time(lambda: message_report(messages, meanings)),
        ),
    ]
    return rows


def _laws(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """One data set of each synthetic law (discrete, positive integers)."""
    return {
        "power law alpha=2.0": rng.zipf(2.0, n),
        "power law alpha=2.5": rng.zipf(2.5, n),
        "geometric p=0.1": rng.geometric(0.1, n),
        # a discretised lognormal whose tail over 1..1000 looks like alpha ~ 2
        "lognormal mu=0.5 sigma=1.5": np.floor(np.exp(rng.normal(0.5, 1.5, n))) + 1,
    }


def _ratio_only_rule(fit) -> bool:
    """The rule without a goodness-of-fit test: the lognormal not significantly
    better and the exponential significantly worse (level 0.1)."""
    r_ln, p_ln = fit.comparisons["lognormal"]
    r_ex, p_ex = fit.comparisons["exponential"]
    return not (r_ln < 0 and p_ln < 0.1) and r_ex > 0 and p_ex < 0.1


def power_law_rates(
    n_sets: int = 40, n: int = 2000, gof_bootstrap: int = 100, seed: int = 0
) -> list[tuple[str, float, float, float, float, float]]:
    """Per law: share of gof_p >= 0.1, of each verdict at level 0.1, and of the
    ratio-only rule's "power law"."""
    from analysis.symbols import power_law_fit

    rng = np.random.default_rng(seed)
    fits: dict[str, list] = {}
    for i in range(n_sets):
        for law, values in _laws(rng, n).items():
            fit = power_law_fit(
                values,
                alternatives=("lognormal", "exponential"),
                gof_bootstrap=gof_bootstrap,
                seed=i,
            )
            fits.setdefault(law, []).append(fit)
    rows = []
    for law, fs in fits.items():
        verdicts = [f.verdict for f in fs]
        rows.append(
            (
                law,
                float(np.mean([f.gof_p >= 0.1 for f in fs])),
                verdicts.count("power_law") / len(fs),
                verdicts.count("heavy_tailed") / len(fs),
                verdicts.count("not_power_law") / len(fs),
                float(np.mean([_ratio_only_rule(f) for f in fs])),
            )
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="size multiplier")
    parser.add_argument("--seed", type=int, default=0, help="data seed")
    parser.add_argument(
        "--rates", action="store_true", help="also measure power-law verdict rates"
    )
    parser.add_argument("--rate-sets", type=int, default=40, help="data sets per law")
    args = parser.parse_args(argv)
    rows = run(args.scale, args.seed)
    print("| operation | size | seconds |")
    print("|---|---|---|")
    for op, size, seconds in rows:
        print(f"| {op} | {size} | {seconds:.2f} |")
    if args.rates:
        print()
        print(
            f"Power-law verdicts, {args.rate_sets} data sets of 2,000 values per law, "
            "100 bootstrap sets, level 0.1:"
        )
        print()
        print(
            "| law | gof_p >= 0.1 | power law | heavy-tailed | not a power law "
            "| ratio-only rule says power law |"
        )
        print("|---|---|---|---|---|---|")
        rates = power_law_rates(args.rate_sets, seed=args.seed)
        for law, keep, pl, ht, npl, old in rates:
            print(
                f"| {law} | {keep:.0%} | {pl:.0%} | {ht:.0%} | {npl:.0%} | {old:.0%} |"
            )


if __name__ == "__main__":
    if not __package__:  # run as a file: bench/ must not shadow analysis/
        sys.path[0] = str(Path(__file__).resolve().parents[1])
    main()
