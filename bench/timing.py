"""Timing helpers shared by the benchmarks.

Every comparison runs its peers in one process, interleaved round robin
(A, B, C, A, B, C, ...), so that load from elsewhere on the machine and
thermal drift fall on all of them alike. Warm-up calls (tracing, XLA
compilation, allocator growth) are never timed. Results are medians of
several repetitions, with the min and max kept beside them.
"""

import dataclasses
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

TORCH_THREADS = 2


@dataclasses.dataclass
class Timing:
    """Seconds per unit of work, one sample per repetition."""

    samples: list

    @property
    def median(self):
        return statistics.median(self.samples)

    @property
    def min(self):
        return min(self.samples)

    @property
    def max(self):
        return max(self.samples)

    def rate(self, items):
        """`items` per second: median, min and max (min from the slowest sample)."""
        return {
            "median": items / self.median,
            "min": items / self.max,
            "max": items / self.min,
        }

    def to_dict(self):
        return {
            "median_s": self.median,
            "min_s": self.min,
            "max_s": self.max,
            "samples_s": list(self.samples),
        }


def log(message):
    """One progress line, flushed at once (runs are long)."""
    print(message, file=sys.stderr, flush=True)


def measure(factories, repeats, warmup=1, number=1, settle=0, label=""):
    """Times peers round robin.

    Args:
        factories: dict name -> zero-argument callable that builds the peer
            and returns its `step`, a zero-argument callable doing one unit
            of work and returning only when the work is done. Peers are
            built in order, before any timing.
        repeats: timed samples per peer.
        warmup: untimed calls of each step before the first sample.
        number: calls of `step` per sample (the sample is their mean).
        settle: untimed calls of `step` right before each of its samples:
            the peer before it may leave the allocator and caches in a state
            that slows whoever comes next (measured: the step run after
            Hugging Face's `labels=` call, which churns ~1 GB, took 10% longer).
        label: prefix of the progress lines.

    Returns:
        dict name -> `Timing` (seconds per call of `step`).
    """
    steps = {}
    for name, factory in factories.items():
        started = time.perf_counter()
        steps[name] = factory()
        for _ in range(warmup):
            steps[name]()
        log(f"{label} {name}: built and warmed up in {time.perf_counter() - started:.1f} s")
    samples = {name: [] for name in steps}
    for repeat in range(repeats):
        for name, step in steps.items():
            for _ in range(settle):
                step()
            started = time.perf_counter()
            for _ in range(number):
                step()
            seconds = (time.perf_counter() - started) / number
            samples[name].append(seconds)
            log(f"{label} {name}: {repeat + 1}/{repeats} {seconds * 1000:.1f} ms")
    return {name: Timing(values) for name, values in samples.items()}


def latencies(functions, requests, warmup=3, label=""):
    """Per-request latency, peers interleaved request by request.

    Each request goes to the peers in a fresh random order (fixed seed), so
    every peer follows every other one about equally often: a call right
    after a heavy one runs on caches that call filled (measured here: the
    `mini` serving bundle 7.3-7.9 ms after Hugging Face at 128 tokens,
    6.2-6.5 ms after Hugging Face at the text's length), and a fixed order
    would charge that to one peer.

    Args:
        functions: dict name -> callable taking one request.
        requests: the requests, each sent once to every peer.
        warmup: untimed requests (the first ones) sent before timing.

    Returns:
        dict name -> {"p50_ms", "p99_ms", "mean_ms", "min_ms", "max_ms"}.
    """
    for function in functions.values():
        for request in requests[:warmup]:
            function(request)
    times = {name: [] for name in functions}
    names = list(functions)
    orders = np.random.default_rng(0)
    for request in requests:
        for index in orders.permutation(len(names)):
            name, function = names[index], functions[names[index]]
            started = time.perf_counter()
            function(request)
            times[name].append((time.perf_counter() - started) * 1000)
    results = {}
    for name, values in times.items():
        values = np.array(values)
        results[name] = {
            "p50_ms": float(np.percentile(values, 50)),
            "p99_ms": float(np.percentile(values, 99)),
            "mean_ms": float(values.mean()),
            "min_ms": float(values.min()),
            "max_ms": float(values.max()),
            "requests": len(values),
        }
        log(
            f"{label} {name}: p50 {results[name]['p50_ms']:.1f} ms, "
            f"p99 {results[name]['p99_ms']:.1f} ms over {len(values)} requests"
        )
    return results


def run_in_child(module, *arguments):
    """Runs `python -m module *arguments` in a fresh process (its progress
    lines on our stderr) and returns the JSON value its last stdout line
    holds."""
    command = [sys.executable, "-m", module, *arguments]
    process = subprocess.run(command, stdout=subprocess.PIPE, text=True, env=os.environ.copy())
    if process.returncode:
        raise RuntimeError(f"{' '.join(command)} failed with exit code {process.returncode} (stderr above)")
    return json.loads(process.stdout.strip().splitlines()[-1])


def configure_torch():
    """Imports torch with the thread count used by every torch peer."""
    import torch

    torch.set_num_threads(TORCH_THREADS)
    return torch


def rate_row(name, timing, items, **extra):
    """A result row: throughput in items/s plus the raw timing."""
    return {"name": name, **extra, **timing.rate(items), "timing": timing.to_dict()}


def ratio(what, numerator, denominator, value=None, target=None):
    """A ratio record for the summary: `numerator / denominator` of two
    throughput rows (or `value` when given, e.g. a latency ratio), with the
    target it should reach, if any."""
    if value is None:
        value = numerator["median"] / denominator["median"]
    name = lambda row: row["name"] if isinstance(row, dict) else row  # noqa: E731
    return {
        "what": what,
        "numerator": name(numerator),
        "denominator": name(denominator),
        "ratio": value,
        "target": target,
        "met": None if target is None else bool(value >= target),
    }
