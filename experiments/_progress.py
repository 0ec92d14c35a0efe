"""Progress lines for the studies: what runs now, how long so far, and when it ends.

Plain lines on stderr (flushed, so a log file shows them while the study runs), one
per job, for any output (a terminal or a file). The ETA of the remaining jobs uses
the mean duration of the finished jobs of the same kind (a study's jobs of one kind
cost about the same), and the mean of all finished jobs for kinds not seen yet.
"""

from __future__ import annotations

import math
import sys
import time
from typing import TextIO

__all__ = ["JobProgress", "duration"]


def duration(seconds: float) -> str:
    """``"42 s"``, ``"3 min 05 s"``, ``"2 h 07 min"``; ``"?"`` when unknown.

    Examples
    --------
    >>> duration(42.4), duration(185), duration(7620), duration(float("nan"))
    ('42 s', '3 min 05 s', '2 h 07 min', '?')
    """
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class JobProgress:
    """One line per job of a known list: ``prog: [k/n] label (elapsed, ETA)``.

    Parameters
    ----------
    prog : str
        Prefix of every line (the command).
    kinds : sequence of str
        The kind of every job, in the order they will run (e.g. the study of each
        job); its length is the number of jobs.
    enabled : bool, default True
        False prints nothing.
    eta : bool, default True
        Print the ETA (False: only the time so far, for jobs of unknown cost).
    stream : file, optional
        Default ``sys.stderr``.
    clock : callable, optional
        Seconds (default ``time.monotonic``; tests pass a fake).

    Examples
    --------
    >>> import io
    >>> out, now = io.StringIO(), iter([0, 10, 30, 34]).__next__
    >>> jobs = JobProgress("study", ["a", "b", "a"], stream=out, clock=now)
    >>> jobs.start("a seed 0"); jobs.start("b seed 0"); jobs.start("a seed 1")
    >>> jobs.finish()
    >>> print(out.getvalue(), end="")
    study: [1/3] a seed 0 ...
    study: [2/3] b seed 0 (10 s so far; ETA 20 s)
    study: [3/3] a seed 1 (30 s so far; ETA 10 s)
    study: 3 jobs done in 34 s
    """

    def __init__(
        self,
        prog: str,
        kinds,
        *,
        enabled: bool = True,
        eta: bool = True,
        stream: TextIO | None = None,
        clock=None,
    ) -> None:
        self.prog = prog
        self.eta = eta
        self.kinds = list(kinds)
        self.enabled = enabled
        self.stream = stream
        self.clock = clock or time.monotonic
        self._t0: float | None = None
        self._started: float | None = None
        self._done: list[tuple[str, float]] = []

    def _close_current(self, now: float) -> None:
        if self._started is not None:
            kind = self.kinds[len(self._done)]
            self._done.append((kind, now - self._started))
            self._started = None

    def _eta(self) -> float:
        spent = [s for _, s in self._done]
        if not spent:
            return math.nan
        overall = sum(spent) / len(spent)
        total = 0.0
        for kind in self.kinds[len(self._done) :]:
            same = [s for k, s in self._done if k == kind]
            total += sum(same) / len(same) if same else overall
        return total

    def _print(self, text: str) -> None:
        if self.enabled:
            print(f"{self.prog}: {text}", file=self.stream or sys.stderr, flush=True)

    def start(self, label: str) -> None:
        """The next job starts (the previous one, if any, has finished)."""
        now = self.clock()
        if self._t0 is None:
            self._t0 = now
        self._close_current(now)
        index = len(self._done) + 1
        if index > len(self.kinds):
            if self.enabled:
                raise ValueError(
                    f"job {index} started, but only {len(self.kinds)} planned"
                )
            self.kinds.append("")  # a disabled progress counts without a plan
        where = f"[{index}/{len(self.kinds)}] {label}"
        if not self._done:
            self._print(f"{where} ...")
        else:
            elapsed = duration(now - self._t0)
            eta = f"; ETA {duration(self._eta())}" if self.eta else ""
            self._print(f"{where} ({elapsed} so far{eta})")
        self._started = now

    def finish(self) -> None:
        """The last job has finished: one closing line with the total time."""
        now = self.clock()
        self._close_current(now)
        total = 0.0 if self._t0 is None else now - self._t0
        self._print(f"{len(self._done)} jobs done in {duration(total)}")
