"""Runs the benchmarks: `python -m bench [NAME ...] [--quick] [--repeats=N]
[--runs=N] [--output_dir=DIR]`.

With no NAME, all of them (`bench.BENCHMARKS`). With `--runs=N` the whole
sequence runs N times, every benchmark in a fresh process each time; the
ratio table then gives each ratio's median over the runs, judges the
targets by it and shows the spread (one run's ratios moved by 5-10% between
runs minutes apart here). The tables of each benchmark are its last run's.
Writes
`results.json` and `RESULTS.md` in `--output_dir` (default `bench/`;
a temporary directory with `--quick`). A run of some
benchmarks replaces their entries in an existing `results.json` of the same
mode (quick or not) and keeps the others, each entry with its own date.
"""

import dataclasses
import json
import os
import tempfile
import time

from absl import app, flags, logging

from bench import BENCHMARKS, report
from bench.timing import log, run_in_child

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
QUICK_OUTPUT_DIR = os.path.join(tempfile.gettempdir(), "kerasbert_bench_quick")
FLAGS = flags.FLAGS
flags.DEFINE_integer("repeats", None, "Timed samples per peer (default 5; 1 with --quick).")
flags.DEFINE_integer("runs", 1, "Runs of the whole sequence; ratios are medians over them.", lower_bound=1)
flags.DEFINE_bool("quick", False, "Smoke run: tiny sizes, fewer peers, under a minute; not a measurement.")
flags.DEFINE_string(
    "output_dir",
    None,
    "Where results.json and RESULTS.md go (default: bench/; with --quick, "
    f"{QUICK_OUTPUT_DIR}, so that a smoke run never replaces the measured results).",
)

DEFAULT_REPEATS = 5
QUICK_REPEATS = 1


@dataclasses.dataclass(frozen=True)
class Options:
    """What every benchmark's `run` receives."""

    repeats: int
    quick: bool


def main(argv):
    logging.set_verbosity(logging.WARNING)  # TensorFlow's export chatter
    names = argv[1:] or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        raise app.UsageError(f"unknown benchmarks {unknown}; choose from {list(BENCHMARKS)}")
    names = [n for n in BENCHMARKS if n in names]  # canonical order: the peak first
    repeats = FLAGS.repeats or (QUICK_REPEATS if FLAGS.quick else DEFAULT_REPEATS)
    options = Options(repeats=repeats, quick=FLAGS.quick)

    output_dir = FLAGS.output_dir or (QUICK_OUTPUT_DIR if FLAGS.quick else BENCH_DIR)

    started = time.perf_counter()
    machine = report.machine_description()
    if machine["load_average"][0] > 0.5 * machine["usable_cores"]:
        log(
            f"load average {machine['load_average'][0]:.2f} on {machine['usable_cores']} cores: "
            "other work is running, the figures will be noisy (the ratios less so)"
        )
    results = _previous_results(output_dir, FLAGS.quick)
    results.update(machine=machine, settings=dataclasses.asdict(options))
    runs = {name: [] for name in names}
    for run in range(FLAGS.runs):
        for index, name in enumerate(names):
            of_runs = f", run {run + 1}/{FLAGS.runs}" if FLAGS.runs > 1 else ""
            log(f"=== {name} ({index + 1}/{len(names)}{of_runs}) ===")
            date, begun, load = report.now(), time.perf_counter(), os.getloadavg()[0]
            arguments = [name, f"--repeats={repeats}"] + ["--quick"] * options.quick
            if name == "encoder_inference" and "matmul_peak" in names:
                arguments.append(f"--peak_gflops={runs['matmul_peak'][-1]['peak_gflops']}")
            result = run_in_child("bench.child", *arguments)  # a fresh process each (bench.child)
            result.setdefault("repeats", repeats)
            result.update(
                date=date,
                seconds=time.perf_counter() - begun,
                load_average=[load, os.getloadavg()[0]],
            )
            runs[name].append(result)
            log(f"=== {name}: {result['seconds']:.0f} s ===")
    for name in names:
        results["benchmarks"][name] = report.over_runs(runs[name])
    results["seconds"] = time.perf_counter() - started
    results["machine"]["load_average_end"] = list(os.getloadavg())
    _write(output_dir, results)


def _previous_results(output_dir, quick):
    path = os.path.join(output_dir, "results.json")
    try:
        with open(path) as f:
            previous = json.load(f)
    except (OSError, ValueError):
        previous = None
    if not previous or previous.get("settings", {}).get("quick") != quick:
        return {"benchmarks": {}}
    # Canonical order whatever the order of the runs.
    kept = previous.get("benchmarks", {})
    return {"benchmarks": {n: kept[n] for n in BENCHMARKS if n in kept}}


def _write(output_dir, results):
    os.makedirs(output_dir, exist_ok=True)
    results["benchmarks"] = {n: results["benchmarks"][n] for n in BENCHMARKS if n in results["benchmarks"]}
    for name, text in (
        ("results.json", json.dumps(results, indent=1, sort_keys=False) + "\n"),
        ("RESULTS.md", report.markdown(results)),
    ):
        path = os.path.join(output_dir, name)
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.replace(path + ".tmp", path)
        log(f"wrote {path}")


if __name__ == "__main__":
    app.run(main)
