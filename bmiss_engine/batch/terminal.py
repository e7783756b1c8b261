"""The command line's view of a batch run: an overall tqdm bar, one status line per busy
worker (recording and separation vectors tried), and the dashboard link or why there is none."""

from __future__ import annotations

from typing import IO, Any

from tqdm import tqdm

from bmiss_engine.batch.run import BatchProgress


class TerminalProgress:
    """A progress callback for :func:`~bmiss_engine.batch.run_batch` that draws on ``file``.

    With ``bars=False`` only the cluster and dashboard lines are written. Call :meth:`close`
    at the end (or use it as a context manager).
    """

    def __init__(self, file: IO[str], bars: bool = True) -> None:
        self._file = file
        self._bars = bars
        self._overall: tqdm[Any] | None = None
        self._lines: dict[str, tqdm[Any]] = {}
        self._announced = False

    def __call__(self, p: BatchProgress) -> None:
        if p.cluster and not self._announced:
            self._announced = True
            dashboard = f"dashboard: {p.dashboard_link}" if p.dashboard_link else p.dashboard_note
            self._write(f"{p.cluster}; {dashboard}" if dashboard else p.cluster)
        if not self._bars:
            return
        if self._overall is None:
            # recordings already done count from the start, not towards the rate
            self._overall = tqdm(total=p.total, initial=p.done, unit="rec", desc="study", file=self._file,
                                 dynamic_ncols=True)
        self._overall.n = p.done
        self._overall.set_postfix_str(
            f"{p.count('ok')} ok, {p.count('skipped')} skipped, {p.count('failed')} failed", refresh=False
        )
        self._overall.refresh()
        busy = {r.worker: r for r in p.running}
        for worker in sorted(busy.keys() | self._lines.keys()):
            line = self._lines.get(worker)
            if line is None:
                line = tqdm(total=0, bar_format="{desc}", position=len(self._lines) + 1, file=self._file,
                            leave=False, dynamic_ncols=True)
                self._lines[worker] = line
            r = busy.get(worker)
            text = f"  worker {worker}: {r.recording} ({r.iteration}/{r.total} vectors)" if r else f"  worker {worker}: idle"
            line.set_description_str(text)

    def _write(self, text: str) -> None:
        tqdm.write(text, file=self._file)

    def close(self) -> None:
        for line in self._lines.values():
            line.close()
        if self._overall is not None:
            self._overall.close()

    def __enter__(self) -> TerminalProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
