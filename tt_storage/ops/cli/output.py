"""What the commands print: progress on stderr, tables and bar plots on stdout, a
file or stdout for an export."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator, Sequence
from typing import IO, TextIO


class ProgressBar:
    """``label [#####.....] 45 % 123/456 note`` redrawn in place on a terminal; on anything else
    (a log, a pipe) one plain line at most every ``interval`` seconds, and the last one."""

    WIDTH = 30

    def __init__(
        self,
        label: str,
        total: int | None = None,
        stream: TextIO | None = None,
        interval: float = 5,
        quiet: bool = False,
    ) -> None:
        self.label, self.total = label, total
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty()
        self.interval = interval
        #: Draw nothing (``--json``: the output is for a program, stderr too).
        self.quiet = quiet
        self.started = time.monotonic()
        self.drawn = -1e9
        self.dirty = False
        # What the last plain line showed: ``finish`` does not print the same line again.
        self.last: tuple[int, str] | None = None

    def update(
        self, done: int, total: int | None = None, note: str = "", force: bool = False
    ) -> None:
        if total is not None:
            self.total = total
        now = time.monotonic()
        if self.quiet or (not force and now - self.drawn < (0.1 if self.tty else self.interval)):
            return
        self.drawn = now
        line = self._render(done, note, now - self.started)
        if self.tty:
            self.stream.write("\r\x1b[2K" + line)
            self.dirty = True
        else:
            self.stream.write(line + "\n")
            self.last = (done, note)
        self.stream.flush()

    def _render(self, done: int, note: str, elapsed: float) -> str:
        parts = [self.label]
        if self.total:
            ratio = max(0.0, min(1.0, done / self.total))
            filled = int(ratio * self.WIDTH)
            parts.append(f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {ratio * 100:3.0f} %")
            parts.append(f"{done:,}/{self.total:,}")
        else:
            parts.append(f"{done:,}")
        parts.append(f"{elapsed:.1f} s")
        if note:
            parts.append(note)
        return " ".join(parts)

    def finish(self, done: int, note: str = "") -> None:
        if self.last == (done, note):  # a log already has this very line
            return
        self.update(done, note=note, force=True)
        if self.tty and self.dirty:
            self.stream.write("\n")
            self.stream.flush()


def fmt_utc(ts: int, bucket: str = "day") -> str:
    return time.strftime("%Y-%m-%d" if bucket == "day" else "%Y-%m-%d %H:00", time.gmtime(ts))


def render_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    lines = [
        "  ".join(
            h.ljust(w) if i < 2 else h.rjust(w)
            for i, (h, w) in enumerate(zip(header, widths, strict=True))
        )
    ]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append(
            "  ".join(
                str(c).ljust(w) if i < 2 else str(c).rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    return "\n".join(lines)


_EIGHTHS = " ▏▎▍▌▋▊▉█"


def bar(value: int, top: int, width: int) -> str:
    """A horizontal bar of ``value`` out of ``top`` in ``width`` cells, to an eighth of a cell."""
    if top <= 0 or value <= 0:
        return ""
    eighths = round(value / top * width * 8)
    full, rest = divmod(eighths, 8)
    return "█" * full + (_EIGHTHS[rest] if rest else "")


def render_series(series: Sequence[tuple[int, int]], bucket: str, width: int, title: str) -> str:
    if not series:
        return f"{title}\n(no rows)"
    top = max(n for _, n in series)
    total = sum(n for _, n in series)
    label_width = max(len(f"{n:,}") for _, n in series)
    lines = [f"{title} — total {total:,}, peak {top:,}"]
    for i, (t, n) in enumerate(series):
        mark = "  (so far)" if i == len(series) - 1 else ""
        lines.append(
            f"{fmt_utc(t, bucket)}  {n:>{label_width},}  {bar(n, top, width)}{mark}".rstrip()
        )
    return "\n".join(lines)


def mib(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB"


@contextlib.contextmanager
def output(path: str | None, stdout: TextIO) -> Iterator[TextIO | IO[str]]:
    if path in (None, "-"):
        yield stdout
        return
    assert path is not None
    with open(path, "w", newline="", encoding="utf-8") as f:
        yield f
