"""Peak memory (RSS) of encoder inference (batch 8) and of the pretraining
step, for each package, each peer alone in a fresh process:

    python -m bench.memory <benchmark> "<peer name>" [--quick]

The child imports only its own framework (TensorFlow and Keras for
kerasbert and keras-hub; torch and transformers for Hugging Face), builds
the peer as its benchmark does, runs `ITERATIONS` steps and prints its peak
resident set size in MB: the high-water mark of the whole process
(framework, weights, optimizer state, activations, compiled code), read
from `VmHWM` (see `peak_rss_mb`), beside the same mark right after the
framework import."""

import json
import sys
import time

from bench import encoder_inference, pretraining_step
from bench.timing import log, run_in_child

ITERATIONS = 2
QUICK_PEERS = 1
BENCHMARKS = {"encoder_inference": encoder_inference, "pretraining_step": pretraining_step}
FRAMEWORKS = {
    "kerasbert": ("tensorflow", "keras", "kerasbert"),
    "keras-hub": ("tensorflow", "keras", "keras_hub"),
    "transformers": ("torch", "transformers"),
}


def peak_rss_mb():
    """The high-water RSS of this process's address space (`VmHWM`), in MB.

    Not `ru_maxrss`: Linux carries that over `execve`, so a child started by
    a parent of 2 GB would report at least 2 GB (both go to results.json).
    """
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def ru_maxrss_mb():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def child(benchmark, name, quick):
    """Runs one peer; returns its memory figures."""
    module = BENCHMARKS[benchmark]
    package = module.PACKAGES[name]
    for framework in FRAMEWORKS[package]:
        __import__(framework)
    imported = peak_rss_mb()
    started = time.perf_counter()
    step = module.memory_factories(quick)[name]()
    for _ in range(ITERATIONS):
        step()
    return {
        "benchmark": benchmark,
        "name": name,
        "package": package,
        "import_mb": imported,
        "peak_mb": peak_rss_mb(),
        "ru_maxrss_mb": ru_maxrss_mb(),
        "seconds": time.perf_counter() - started,
        "iterations": ITERATIONS,
    }


def run(options):
    peers = [(b, name) for b, module in BENCHMARKS.items() for name in module.memory_factories(options.quick)]
    if options.quick:
        # Each child costs 5-10 s of imports; one keeps the child's path working.
        peers = peers[:QUICK_PEERS]
    rows = []
    for benchmark, name in peers:
        started = time.perf_counter()
        row = run_in_child("bench.memory", benchmark, name, *["--quick"] * options.quick)
        rows.append(row)
        log(
            f"memory {benchmark} {name}: peak {row['peak_mb']:.0f} MB "
            f"(after import {row['import_mb']:.0f} MB), {time.perf_counter() - started:.0f} s"
        )
    return {"title": "Peak memory", "unit": "MB", "rows": rows, "ratios": []}


def markdown(result):
    lines = [
        f"Peak RSS (`VmHWM`) of a fresh process per peer after {ITERATIONS} steps; "
        "\"framework only\": after importing the framework, before building anything.",
        "",
        "| benchmark | implementation | peak MB | framework only MB | model and run MB |",
        "|---|---|---:|---:|---:|",
    ]
    for row in result["rows"]:
        lines.append(
            f"| {row['benchmark']} | {row['name']} | {row['peak_mb']:,.0f} | "
            f"{row['import_mb']:,.0f} | {row['peak_mb'] - row['import_mb']:,.0f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    arguments = [a for a in sys.argv[1:] if a != "--quick"]
    if len(arguments) != 2 or arguments[0] not in BENCHMARKS:
        sys.exit(f"usage: python -m bench.memory {{{','.join(BENCHMARKS)}}} PEER_NAME [--quick]")
    print(json.dumps(child(*arguments, quick="--quick" in sys.argv)))
