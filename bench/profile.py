"""Where the time goes, peers side by side: `python -m bench.profile
[encoder_inference|pretraining_step] [--batch=N] [--steps=N] [--quick]
[--logdir=DIR]`.

Each TensorFlow peer of the benchmark (kerasbert and keras-hub; for the
encoder also kerasbert with `concurrent_splits=2` and its matrix products
alone, the ceiling) runs `--steps` steps
under the TensorFlow profiler, after two untraced ones. Each trace goes to
`--logdir/<peer>/` (TensorBoard's Profile tab reads it); the op time per
step, by TensorFlow op type, is printed as a table, peers side by side, and
written to `--logdir/profile.json`.

Op time is the sum of the ops' durations on TensorFlow's executor threads:
ops that run at the same time on two threads both count, so a peer's total
can exceed its wall time per step, shown beside it (keras-hub runs its Q,
K and V projections side by side). Hugging Face runs in torch, which this
profiler does not see. A profile, not a measurement: the speeds are
`python -m bench`'s.
"""

import collections
import glob
import json
import os
import re
import tempfile
import time

from absl import app, flags

from bench import encoder_inference, pretraining_step

FLAGS = flags.FLAGS
flags.DEFINE_integer("batch", 8, "encoder_inference: sequences per step.", lower_bound=1)
flags.DEFINE_integer("steps", 3, "Traced steps per peer.", lower_bound=1)
flags.DEFINE_bool("quick", False, "Tiny sizes (the benchmarks' quick mode).")
flags.DEFINE_string(
    "logdir", os.path.join(tempfile.gettempdir(), "kerasbert_profile"), "Where the traces and profile.json go."
)

WARMUP_STEPS = 2
TABLE_ROWS = 15
# The profiler names an op's event "<op name>:<op type>"; its own events
# ("ThreadpoolListener::StartRegion", "EagerLocalExecute: ...") do not match.
OP_EVENT = re.compile(r"^[^\s:]+:([A-Za-z_][A-Za-z0-9_]*)$")


def tensorflow_peers(benchmark, batch, quick):
    """name -> factory (see `bench.timing.measure`) of the benchmark's
    TensorFlow peers."""
    if benchmark == "encoder_inference":
        everything = encoder_inference.factories(encoder_inference.bert_sizes(quick), batch)
        names = [
            encoder_inference.KERASBERT,
            encoder_inference.KERASBERT_SPLIT,
            encoder_inference.KERAS_HUB,
            encoder_inference.MATRIX_PRODUCTS,
        ]
        names = [name for name in names if name in everything]
    else:
        everything = pretraining_step.factories(quick)
        names = (pretraining_step.KERASBERT_MLM, pretraining_step.KERASBERT_NSP, pretraining_step.KERAS_HUB)
    return {name: everything[name] for name in names}


def profile(step, logdir, steps):
    """Runs `step` (which returns once its work is done, as for
    `bench.timing.measure`) untraced, then `steps` times under the profiler
    into `logdir`; returns the wall seconds per traced step."""
    import tensorflow as tf

    for _ in range(WARMUP_STEPS):
        step()
    tf.profiler.experimental.start(logdir)
    try:
        started = time.perf_counter()
        for _ in range(steps):
            step()
        return (time.perf_counter() - started) / steps
    finally:
        tf.profiler.experimental.stop()


def op_times(logdir):
    """{op type: [milliseconds, count]} summed over the newest trace in
    `logdir`, every thread of the host."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    paths = sorted(glob.glob(os.path.join(logdir, "plugins", "profile", "*", "*.xplane.pb")))
    if not paths:
        raise FileNotFoundError(f"no profiler trace (*.xplane.pb) under {logdir}")
    space = xplane_pb2.XSpace()
    with open(paths[-1], "rb") as f:
        space.ParseFromString(f.read())
    times = collections.defaultdict(lambda: [0.0, 0])
    for plane in space.planes:
        for line in plane.lines:
            for event in line.events:
                match = OP_EVENT.match(plane.event_metadata[event.metadata_id].name)
                if match:
                    times[match.group(1)][0] += event.duration_ps / 1e9
                    times[match.group(1)][1] += 1
    return dict(times)


def run(benchmark, batch, steps, quick, logdir):
    results = {}
    for name, build in tensorflow_peers(benchmark, batch, quick).items():
        peer_dir = os.path.join(logdir, _directory_name(name))
        seconds = profile(build(), peer_dir, steps)
        results[name] = {
            "wall_ms": 1000 * seconds,
            "ops": {op: {"ms": ms / steps, "count": count / steps} for op, (ms, count) in op_times(peer_dir).items()},
        }
    batch = batch if benchmark == "encoder_inference" else None  # the step's batch is its own
    return {"benchmark": benchmark, "batch": batch, "steps": steps, "quick": quick, "peers": results}


def table(result):
    """Markdown: the op types that take most time in any peer, ms per step
    and share of that peer's op time."""
    peers = result["peers"]
    totals = {name: sum(op["ms"] for op in peer["ops"].values()) for name, peer in peers.items()}
    ranked = sorted(
        {op for peer in peers.values() for op in peer["ops"]},
        key=lambda op: -max(peer["ops"].get(op, {"ms": 0})["ms"] for peer in peers.values()),
    )
    lines = [
        "| op type | " + " | ".join(peers) + " |",
        "|---|" + "---:|" * len(peers),
        "| wall time per step, ms | " + " | ".join(f"{p['wall_ms']:.1f}" for p in peers.values()) + " |",
        "| op time per step, ms | " + " | ".join(f"{totals[n]:.1f}" for n in peers) + " |",
    ]
    for op in ranked[:TABLE_ROWS]:
        cells = []
        for name, peer in peers.items():
            entry = peer["ops"].get(op)
            cells.append(f"{entry['ms']:.1f} ({entry['ms'] / totals[name]:.1%}, {entry['count']:g}x)" if entry else "")
        lines.append(f"| `{op}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _directory_name(peer):
    return re.sub(r"[^A-Za-z0-9]+", "_", peer).strip("_")


def main(argv):
    benchmarks = ("encoder_inference", "pretraining_step")
    if len(argv) > 2 or (len(argv) == 2 and argv[1] not in benchmarks):
        raise app.UsageError(f"one benchmark, one of {benchmarks}")
    benchmark = argv[1] if len(argv) == 2 else benchmarks[0]
    result = run(benchmark, FLAGS.batch, FLAGS.steps, FLAGS.quick, FLAGS.logdir)
    with open(os.path.join(FLAGS.logdir, "profile.json"), "w") as f:
        json.dump(result, f, indent=1)
    batch = f", batch {FLAGS.batch}" if benchmark == "encoder_inference" else ""
    print(f"\n{benchmark}{batch}{', quick' * FLAGS.quick}: op time per step by TensorFlow op type\n")
    print(table(result))
    print(f"\ntraces (TensorBoard's Profile tab) and profile.json: {FLAGS.logdir}")


if __name__ == "__main__":
    app.run(main)
