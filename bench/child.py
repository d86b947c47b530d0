"""Runs one benchmark in this (fresh) process and prints its result as JSON
on the last stdout line: `python -m bench.child NAME --repeats=N [--quick]
[--peak_gflops=X]`. `python -m bench` starts one per benchmark
(`bench.timing.run_in_child`), so that no benchmark runs on the allocator
and thread state another one left behind: in one shared process, data
creation ran 25-35% slower after the pretraining-step benchmark, and the
serving bundle's p50 went from 0.98-1.01x Hugging Face's (alone) to
0.86-0.90x (at the end of a full run).
"""

import importlib
import json
import sys

from bench import BENCHMARKS


def main(argv):
    names = [a for a in argv if not a.startswith("--")]
    values = dict(a[2:].split("=", 1) for a in argv if a.startswith("--") and "=" in a)
    if len(names) != 1 or names[0] not in BENCHMARKS or "repeats" not in values:
        sys.exit(
            "usage: python -m bench.child NAME --repeats=N [--quick] [--peak_gflops=X]; "
            f"NAME one of {list(BENCHMARKS)}"
        )
    from bench.__main__ import Options

    options = Options(repeats=int(values["repeats"]), quick="--quick" in argv)
    module = importlib.import_module(f"bench.{names[0]}")
    if "peak_gflops" in values:
        result = module.run(options, peak_gflops=float(values["peak_gflops"]))
    else:
        result = module.run(options)
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
