"""Timing of the symbol and language metrics on seeded synthetic data.

How to run (from the repository root)::

    .venv/bin/python -m bench.analysis              # 1M symbols, 10k messages
    .venv/bin/python -m bench.analysis --scale 0.1

(``python bench/analysis.py`` works too: the script then puts the repository root
first on ``sys.path`` so that this file does not shadow the ``analysis`` package.)

Prints a Markdown table (operation, size, seconds). Each row is one call, timed
with ``time.perf_counter`` after a warm-up import; data are Zipf-distributed symbol
ids (exponent 2) and uniform random meanings, seeded.

Results to expect (2 shared CPU cores): every row finishes in seconds. The power-law
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
    from analysis.symbols import mutual_information, power_law_fit, zipf_fit

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

    rows = [
        (
            "power_law_fit (symbol frequency table)",
            f"{n_symbols:,} symbols, {np.count_nonzero(freqs):,} types",
            _time(lambda: power_law_fit(freqs)),
        ),
        (
            "power_law_fit, no truncated-power-law comparison",
            f"{n_symbols:,} symbols, {np.count_nonzero(freqs):,} types",
            _time(
                lambda: power_law_fit(freqs, alternatives=("lognormal", "exponential"))
            ),
        ),
        (
            "power_law_fit (raw values)",
            f"{n_raw:,} values",
            _time(lambda: power_law_fit(symbols[:n_raw] + 1)),
        ),
        (
            "zipf_fit",
            f"{n_symbols:,} symbols",
            _time(lambda: zipf_fit(freqs)),
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="size multiplier")
    parser.add_argument("--seed", type=int, default=0, help="data seed")
    args = parser.parse_args(argv)
    rows = run(args.scale, args.seed)
    print("| operation | size | seconds |")
    print("|---|---|---|")
    for op, size, seconds in rows:
        print(f"| {op} | {size} | {seconds:.2f} |")


if __name__ == "__main__":
    if not __package__:  # run as a file: bench/ must not shadow analysis/
        sys.path[0] = str(Path(__file__).resolve().parents[1])
    main()
