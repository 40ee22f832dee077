"""Summarise a py-spy ``--format raw`` profile (collapsed stacks) as the functions that cost most.

    python -m bench.profile_summary PROFILE.txt [--top 25] [--match baton/] [--json]

Prints, per function (``name (file)``), its *inclusive* share (samples with
it anywhere on the stack) and its *self* share (samples with it on top), as
percentages of all samples. ``--match`` keeps only functions whose file
contains the text (e.g. ``baton/`` for Baton's own code). Used by the
throughput and replay benches' ``--profile`` and by docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def _frame_name(frame: str) -> tuple[str, str]:
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip(), ""
    file = m.group("file")
    # Shorten site-packages paths to the package-relative part.
    for marker in ("site-packages/", "/lib/python3."):
        if marker in file:
            file = file.split(marker, 1)[1]
            if marker.startswith("/lib/"):
                file = file.split("/", 1)[-1]
            break
    if "/baton/" in file:
        file = "baton/" + file.split("/baton/", 1)[1]
    if "/bench/" in file:
        file = "bench/" + file.split("/bench/", 1)[1]
    return m.group("func"), file


def summarise(path: Path, top: int = 25, match: str | None = None,
              thread: str | None = None) -> dict[str, Any]:
    inclusive: Counter[str] = Counter()
    self_: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        if thread is not None and not frames[0].startswith(thread):
            continue
        total += n
        seen: set[str] = set()
        names = []
        for frame in frames:
            func, file = _frame_name(frame)
            if not file:  # py-spy's thread / process header frames
                continue
            names.append(f"{func} ({file})")
        for name in names:
            if name not in seen:
                seen.add(name)
                inclusive[name] += n
        if names:
            self_[names[-1]] += n

    def keep(name: str) -> bool:
        return match is None or match in name

    def pct(n: int) -> float:
        return round(100.0 * n / total, 1) if total else 0.0

    return {
        "samples": total,
        "inclusive_percent": [[name, pct(n)] for name, n in inclusive.most_common() if keep(name)][:top],
        "self_percent": [[name, pct(n)] for name, n in self_.most_common() if keep(name)][:top],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("profile", type=Path)
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--match", default=None, help="only functions whose file contains this text")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = p.parse_args(argv)
    out = summarise(args.profile, args.top, args.match)
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"{out['samples']} samples")
    for title, rows in (("inclusive %", out["inclusive_percent"]), ("self %", out["self_percent"])):
        print(f"\n{title}")
        for name, share in rows:
            print(f"{share:6.1f}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
