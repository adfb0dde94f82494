"""What one step log line costs: CPU time of the calling thread (the event loop's, in an app) and of the whole
process (the writer thread's formatting and writing included), next to the stdlib's own logger writing the
same line to the same kind of file in the same run.

    python bench/log_cost.py [--lines 50000]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from motia import StepLogger, log


def measure(write_line: Callable[[int], None], lines: int, flush: Callable[[], None]) -> tuple[float, float]:
    """Best of 5 rounds: (calling thread, process) CPU microseconds per line."""
    rounds = []
    for _ in range(5):
        thread, process = time.thread_time_ns(), time.process_time_ns()
        for number in range(lines):
            write_line(number)
        thread = time.thread_time_ns() - thread
        flush()
        rounds.append((thread / lines / 1000, (time.process_time_ns() - process) / lines / 1000))
    return min(r[0] for r in rounds), min(r[1] for r in rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=50_000)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        # The baseline: a stdlib logger and StreamHandler (caller look-up, format and write in the call).
        with (Path(tmp) / "stdlib.log").open("w") as stream:
            handler = logging.StreamHandler(stream)
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-5s [%(name)s] %(message)s"))
            stdlib = logging.getLogger("bench.stdlib")
            stdlib.addHandler(handler)
            stdlib.setLevel(logging.INFO)
            stdlib.propagate = False
            baseline = measure(lambda n: stdlib.info(f"Greeting {n}"), args.lines, handler.flush)
        rows.append(("stdlib logger + StreamHandler (the baseline)", *baseline))
        logger = StepLogger("HelloWorld", "1a2b3c4d5e6f7a8b")
        for fmt in ("human", "json"):
            with (Path(tmp) / f"{fmt}.log").open("w") as stream:
                log.configure("info", fmt, stream=stream)
                rows.append((f"ctx.logger.info, --log-format {fmt}",
                             *measure(lambda n: logger.info(f"Greeting {n}"), args.lines, log.flush)))
                filtered = measure(lambda n: logger.debug(f"Greeting {n}"), args.lines, log.flush)
        rows.append(("ctx.logger.debug below the level (filtered out)", *filtered))
    print("| one log line | calling thread (event loop) | whole process (writer thread included) | "
          "process vs baseline |")
    print("|---|---|---|---|")
    for name, thread, process in rows:
        print(f"| {name} | {thread:.2f} us | {process:.2f} us | {process / rows[0][2]:.2f}x |")


if __name__ == "__main__":
    main()
