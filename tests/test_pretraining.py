"""The pretraining loop: strategies, resumption, precision, failures."""

import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasbert import BertConfig, BertEncoder, BertPretrainer
from kerasbert.convert import FORMATS, save_any
from kerasbert.data import create_pretraining_data, pretraining_dataset
from kerasbert.data.bbc import bbc_files
from kerasbert.model_dir import load_model
from kerasbert.text import build_vocab
from kerasbert.training import NonFiniteLossError, PretrainingOptions, auto_mixed_precision, pretrain

PROGRAM = os.path.join(os.path.dirname(__file__), "..", "train", "pretrain.py")
SEQ, PREDICTIONS = 64, 10


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A 2,000-piece vocabulary, a tiny config and pretraining data from
    100 BBC tech articles."""
    root = tmp_path_factory.mktemp("pretraining")
    files = [f for f in bbc_files() if "/tech/" in f][:100]
    vocab = str(root / "vocab.txt")
    build_vocab(files, 2000, output_file=vocab, show_progress=False)
    config = BertConfig(
        vocab_size=2000,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        max_position_embeddings=SEQ,
    )
    config_file = str(root / "bert_config.json")
    config.to_json_file(config_file)
    data = str(root / "data")
    create_pretraining_data(
        files, vocab, data, num_shards=2, max_seq_length=SEQ, max_predictions_per_seq=PREDICTIONS,
        dupe_factor=2, input_format="paragraphs", show_progress=False,
    )
    return {"vocab": vocab, "config": config, "config_file": config_file, "data": data}


def options(setup, model_dir, **changes):
    values = dict(
        model_dir=str(model_dir),
        train_data=setup["data"],
        eval_data=setup["data"],
        config=setup["config"],
        vocab_file=setup["vocab"],
        batch_size=16,
        train_steps=60,
        learning_rate=2e-3,
        warmup_steps=5,
        max_seq_length=SEQ,
        max_predictions_per_seq=PREDICTIONS,
        steps_per_loop=10,
        checkpoint_steps=20,
        eval_steps=4,
        show_progress=False,
    )
    values.update(changes)
    return PretrainingOptions(**values)


def train_losses(model_dir):
    with open(os.path.join(model_dir, "history.jsonl")) as f:
        return [r["loss"] for r in map(json.loads, f) if r["split"] == "train"]


def assert_loss_falls(model_dir):
    losses = train_losses(model_dir)
    assert losses[-1] < losses[0] - 0.5, losses


def program_args(setup, model_dir, *extra):
    return [
        sys.executable, PROGRAM, f"--bert_config_file={setup['config_file']}",
        f"--vocab_file={setup['vocab']}", f"--train_data={setup['data']}",
        f"--model_dir={model_dir}", f"--max_seq_length={SEQ}",
        f"--max_predictions_per_seq={PREDICTIONS}", "--batch_size=16", "--learning_rate=2e-3",
        "--warmup_steps=5", "--steps_per_loop=10", *extra,
    ]


def program_result(stdout):
    return json.JSONDecoder().raw_decode(stdout[stdout.index("{"):])[0]


def test_data_and_model_dir_on_tensorflows_filesystems(setup):
    # As on a TPU, where --train_data and --model_dir are gs:// paths: here
    # TensorFlow's in-memory filesystem (ram://) stands in for GCS.
    bucket = "ram://bucket"
    data, model_dir, vocab = f"{bucket}/data", f"{bucket}/run", f"{bucket}/vocab.txt"
    tf.io.gfile.makedirs(data)
    for name in os.listdir(setup["data"]):
        tf.io.gfile.copy(os.path.join(setup["data"], name), f"{data}/{name}")
    tf.io.gfile.copy(setup["vocab"], vocab)
    try:
        run = dict(train_data=data, eval_data=data, steps_per_loop=10, checkpoint_steps=10)
        assert pretrain(options(setup, model_dir, vocab_file=vocab, train_steps=20, **run))["step"] == 20
        written = set(tf.io.gfile.listdir(model_dir))
        assert {"config.json", "vocab.txt", "history.jsonl", "eval_results.json", "training.png"} <= written
        assert {"checkpoint", "ckpt-20.index", "train/", "eval/"} <= written | {n + "/" for n in written}
        # Resumed with what the model dir holds: its config, vocabulary, checkpoint.
        assert pretrain(options(setup, model_dir, config=None, vocab_file=None, train_steps=40, **run))["step"] == 40
        with tf.io.gfile.GFile(f"{model_dir}/history.jsonl") as f:
            steps = [r["step"] for r in map(json.loads, f) if r["split"] == "train"]
        assert steps == [10, 20, 30, 40]
        # (Not load_model: ram:// takes a checkpoint prefix for a directory,
        # which tf.train.load_checkpoint then refuses; gs:// does not.)
    finally:
        tf.io.gfile.rmtree(bucket)


def test_one_device(setup, tmp_path):
    result = pretrain(options(setup, tmp_path))
    assert result["step"] == 60
    assert_loss_falls(tmp_path)
    files = set(os.listdir(tmp_path))
    assert {"config.json", "vocab.txt", "checkpoint", "train", "eval", "training.png"} <= files
    assert {"ckpt-20.index", "ckpt-40.index", "ckpt-60.index"} <= files
    results = json.loads((tmp_path / "eval_results.json").read_text())
    assert results["untrained"]["step"] == 0
    assert results["pretrained"]["mlm_accuracy"] > results["untrained"]["mlm_accuracy"]
    assert 0 < results["most_frequent"]["mlm_accuracy"] < 0.2
    assert os.listdir(tmp_path / "train")  # TensorBoard event file
    # a second run with the same model dir has nothing left to do
    assert pretrain(options(setup, tmp_path))["step"] == 60


def test_train_minutes_fills_the_budget_and_the_rate_decays_to_zero_at_its_end(setup, tmp_path):
    # 18 s of loops: the first (tracing included) takes 2-5 s here, so steps remain to decay over.
    budget = options(setup, tmp_path, train_steps=100_000, train_minutes=0.3, warmup_steps=20,
                     checkpoint_steps=100_000, eval_data=None)
    result = pretrain(budget)
    assert 20 < result["step"] == result["train_steps"] < 100_000
    with open(tmp_path / "history.jsonl") as f:
        loops = [r for r in map(json.loads, f) if r["split"] == "train"]
    steps = np.diff([0] + [r["step"] for r in loops])
    seconds = steps * 16 / np.array([r["seq/s"] for r in loops])
    per_step = seconds[1:].sum() / steps[1:].sum()  # the mean the budget estimates with
    # Time was left before the last loop, and less than a step's worth after it.
    assert seconds[:-1].sum() < 18 and seconds.sum() > 18 - 1.01 * per_step, (seconds, per_step)
    assert loops[-1]["learning_rate"] == 0.0  # the schedule ends at the decided step
    assert loops[1]["learning_rate"] == pytest.approx(2e-3)  # the end of warmup
    assert f"ckpt-{result['step']}.index" in os.listdir(tmp_path)
    # The time spent is saved with the checkpoint: a second run has nothing left to do.
    again = pretrain(budget)
    assert again["step"] == again["train_steps"] == result["step"]


def test_mirrored_over_two_logical_cpus(setup, tmp_path):
    done = subprocess.run(
        program_args(setup, tmp_path, "--distribution_strategy=mirrored", "--num_cpu_devices=2",
                     "--train_steps=60"),
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert program_result(done.stdout)["step"] == 60
    assert_loss_falls(tmp_path)


def free_port():
    """A free port below the kernel's ephemeral range: a port picked by
    binding port 0 is free again until the worker binds it seconds later, and
    any outgoing connection (the other worker's included) may take it then."""
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        ephemeral_start = int(f.read().split()[0])
    rng = random.Random()
    for _ in range(100):
        port = rng.randrange(ephemeral_start // 2, ephemeral_start)
        with socket.socket() as s:
            try:
                s.bind(("localhost", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below the ephemeral range")


def run_together(commands, log_dir, timeout=300):
    """Runs `commands` (argument list, environment) side by side and returns
    each one's (return code, stdout, stderr). Output goes to files, so no
    process blocks on a full pipe that nobody reads. A process still running
    after `timeout` seconds gets SIGABRT, which makes Python's fault handler
    print every thread's stack: the failure then shows where each one hung."""
    processes, logs = [], []
    for index, (args, env) in enumerate(commands):
        out, err = (open(os.path.join(log_dir, f"process{index}.{n}"), "w+") for n in ("out", "err"))
        env = dict(env, PYTHONFAULTHANDLER="1")
        processes.append(subprocess.Popen(args, stdout=out, stderr=err, text=True, env=env))
        logs.append((out, err))
    deadline = time.time() + timeout
    hung = False
    for process in processes:
        try:
            process.wait(timeout=max(1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            hung = True
    if hung:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGABRT)
        for process in processes:
            process.wait()
    results = []
    for process, files in zip(processes, logs):
        for f in files:
            f.seek(0)
        results.append((process.returncode, files[0].read(), files[1].read()))
        for f in files:
            f.close()
    if hung:
        pytest.fail(f"no result after {timeout} s; the processes' stacks:\n" + "\n".join(
            f"--- process {i} (exit {code}):\n{err.split('Extension modules:')[0][-6000:]}"
            for i, (code, _, err) in enumerate(results)
        ))
    return results


def test_multi_worker_mirrored_two_processes(setup, tmp_path):
    ports = set()
    while len(ports) < 2:
        ports.add(free_port())
    workers = [f"localhost:{port}" for port in sorted(ports)]
    args = program_args(setup, tmp_path / "model", "--distribution_strategy=multi_worker_mirrored",
                        "--train_steps=40", "--checkpoint_steps=20",
                        # the count decided from the workers' mean timings (capped at 40)
                        "--train_minutes=30")
    commands = [
        (args, dict(os.environ, TF_CONFIG=json.dumps(
            {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        )))
        for index in range(2)
    ]
    outputs = run_together(commands, tmp_path)
    for code, _, stderr in outputs:
        assert code == 0, stderr[-3000:]
        # TensorFlow's preemption watcher left blocked in a coordination-service
        # call at exit is the likeliest cause of a chief that never exited (CI).
        assert "Shut down watcher for peer's termination signal" in stderr
    results = [program_result(stdout) for _, stdout, _ in outputs]
    assert results[0]["step"] == results[1]["step"] == 40
    assert results[0]["weights_sha256"] == results[1]["weights_sha256"]
    assert_loss_falls(tmp_path / "model")
    assert not [n for n in os.listdir(tmp_path / "model") if n.startswith(".worker")]


STRATEGIES = {
    "one_device": [],
    "mirrored": ["--distribution_strategy=mirrored", "--num_cpu_devices=2"],
}


def wait_for(condition, process, timeout=300):
    deadline = time.time() + timeout
    while not condition():
        assert process.poll() is None, "the run ended before the fault was injected"
        assert time.time() < deadline
        time.sleep(0.2)


def train_steps_logged(model_dir):
    with open(os.path.join(model_dir, "history.jsonl")) as f:
        return [r["step"] for r in map(json.loads, f) if r["split"] == "train"]


# Each signal under one strategy (a subprocess pair costs ~30 s): the loop,
# checkpointing and restore are the same code under both.
def test_sigkill_then_resume(setup, tmp_path):
    args = program_args(setup, tmp_path, "--train_steps=200", "--checkpoint_steps=20",
                        *STRATEGIES["one_device"])
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = tmp_path / "checkpoint"
    wait_for(lambda: state.exists() and "ckpt-" in state.read_text(), process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    killed_at = int(re.search(r'model_checkpoint_path: ".*?ckpt-(\d+)"', state.read_text()).group(1))
    assert 20 <= killed_at < 200
    done = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"ckpt-{killed_at}" in done.stderr  # "Resuming from .../ckpt-N"
    assert program_result(done.stdout)["step"] == 200
    listed = re.findall(r'all_model_checkpoint_paths: "(.*?)"', state.read_text())
    assert listed
    for name in listed:  # every checkpoint named in the state file is whole
        path = os.path.join(tmp_path, name)
        assert os.path.exists(f"{path}.index") and os.path.exists(f"{path}.data-00000-of-00001")
    assert not [n for n in os.listdir(tmp_path) if "_temp" in n]


def test_sigterm_saves_the_current_step_and_the_next_run_continues_from_it(setup, tmp_path):
    # No periodic checkpoint before step 1000: the one found must be the preemption's.
    args = program_args(setup, tmp_path, "--train_steps=100", "--checkpoint_steps=1000",
                        *STRATEGIES["mirrored"])
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    history = tmp_path / "history.jsonl"
    wait_for(lambda: history.exists() and '"train"' in history.read_text(), process)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 1, stderr[-3000:]
    match = re.search(r"pretrain: preempted \(SIGTERM\) at step (\d+): (\S+ckpt-(\d+)) holds that step", stderr)
    assert match, stderr[-3000:]
    stopped_at = int(match.group(1))
    assert stopped_at == int(match.group(3)) and 10 <= stopped_at < 100 and stopped_at % 10 == 0
    assert stopped_at == train_steps_logged(tmp_path)[-1]
    assert f"ckpt-{stopped_at}" in (tmp_path / "checkpoint").read_text()

    done = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"Resuming from {match.group(2)}" in done.stderr
    assert program_result(done.stdout)["step"] == 100
    # Every step trained exactly once: none repeated, none skipped.
    assert train_steps_logged(tmp_path) == list(range(10, 101, 10))


def test_full_disk_while_checkpointing_keeps_the_previous_checkpoint(setup, tmp_path):
    """A file-size limit makes the checkpoint's data file fail to write (EFBIG,
    as a full disk gives ENOSPC); the run stops naming the checkpoint and the
    cause, and the previous checkpoint is still the one a restart uses."""
    import resource

    args = program_args(setup, tmp_path, "--checkpoint_steps=20")
    pretrain(options(setup, tmp_path, train_steps=20, eval_data=None))
    data_size = os.path.getsize(tmp_path / "ckpt-20.data-00000-of-00001")
    limit = data_size // 2  # room for logs and config, not for a checkpoint

    def limit_file_size():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    full = subprocess.run(args + ["--train_steps=40"], capture_output=True, text=True,
                          timeout=600, preexec_fn=limit_file_size)
    assert full.returncode == 1, full.stderr[-3000:]
    assert re.search(rf"pretrain: could not write the checkpoint {re.escape(str(tmp_path))}/ckpt-40 "
                     r"at step 40: .*File too large.*The last complete checkpoint is .*ckpt-20",
                     full.stderr), full.stderr[-3000:]
    state = (tmp_path / "checkpoint").read_text()
    assert "ckpt-20" in state and "ckpt-40" not in state
    restored, _ = load_model(str(tmp_path))  # the previous checkpoint reads whole
    assert restored.encoder.config == setup["config"]

    again = subprocess.run(args + ["--train_steps=40"], capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "ckpt-20" in again.stderr and program_result(again.stdout)["step"] == 40


@pytest.mark.parametrize(
    "changes", [{"mixed_precision": "mixed_bfloat16"}, {"mixed_precision": "auto"}, {"jit_compile": True}]
)
def test_mixed_bfloat16_and_xla_train(setup, tmp_path, changes):
    result = pretrain(options(setup, tmp_path, eval_data=None, **changes))
    assert result["step"] == 60
    assert_loss_falls(tmp_path)
    asked = changes.get("mixed_precision")
    expected = auto_mixed_precision() if asked == "auto" else asked
    assert result["mixed_precision"] == (expected or "float32") == keras.config.dtype_policy().name


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(setup, tmp_path):
    pretrain(options(setup, tmp_path, train_steps=20, eval_data=None))
    with pytest.raises(NonFiniteLossError, match=r"at step \d+; stopping. The last good checkpoint is .*ckpt-20"):
        pretrain(options(setup, tmp_path, train_steps=100, learning_rate=1e12, eval_data=None))
    assert "ckpt-20" in (tmp_path / "checkpoint").read_text()


def test_vocab_and_config_must_agree(setup, tmp_path):
    wrong = setup["config"].replace(vocab_size=30522)
    with pytest.raises(ValueError, match=r"vocab.txt has 2000 pieces but the config's vocab_size is 30522"):
        pretrain(options(setup, tmp_path, config=wrong))


def test_program_names_mismatched_predictions(setup, tmp_path):
    args = program_args(setup, tmp_path)
    args = [a if not a.startswith("--max_predictions") else "--max_predictions_per_seq=20" for a in args]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert "the data has max_predictions_per_seq=10, not 20" in done.stderr


def test_program_refuses_a_preset_and_a_config_file_together(setup, tmp_path):
    # Before, the preset silently won and the config file was ignored.
    done = subprocess.run(
        program_args(setup, tmp_path, "--preset=mini"), capture_output=True, text=True, timeout=300
    )
    assert done.returncode != 0
    assert "preset" in done.stderr and "bert_config_file" in done.stderr
    assert not os.listdir(tmp_path)


@pytest.mark.parametrize("source", FORMATS)
def test_init_checkpoint_from_every_format(setup, tmp_path, source):
    """Continued pretraining from converted weights: at learning rate 0 the
    run ends with exactly the source's weights (heads too, where the source
    has them), and takes the source's config and vocabulary."""

    keras.utils.set_random_seed(99)  # not the run's seed: a fresh model differs
    initial = BertPretrainer(BertEncoder(setup["config"]), nsp=True)
    saved = save_any(initial, setup["vocab"], str(tmp_path / source), source)
    model_dir = tmp_path / "run"
    pretrain(options(setup, model_dir, config=None, vocab_file=None, eval_data=None,
                     init_checkpoint=saved, learning_rate=0.0, train_steps=1, steps_per_loop=1,
                     warmup_steps=0))
    trained, _ = load_model(str(model_dir))
    pairs = [(trained.encoder, initial.encoder)]
    if source != "keras_hub":  # keras-hub presets hold the encoder only
        pairs += [(trained.mlm_head, initial.mlm_head), (trained.nsp_head, initial.nsp_head)]
    for ours, theirs in pairs:
        for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)


def test_init_checkpoint_must_fit_the_config(setup, tmp_path):
    initial = BertEncoder(setup["config"])
    saved = save_any(initial, setup["vocab"], str(tmp_path / "source"))
    wider = setup["config"].replace(hidden_size=128, intermediate_size=256)
    with pytest.raises(ValueError, match="does not fit the given config: hidden_size=128 vs 64"):
        pretrain(options(setup, tmp_path / "run", config=wider, init_checkpoint=saved))
    assert not os.path.exists(tmp_path / "run" / "ckpt-0.index")


def damaged_copy(setup, tmp_path, damage):
    """The pretraining data with its first shard damaged; returns (data dir,
    damaged shard, records still readable in it)."""
    import shutil

    import tensorflow as tf

    data = tmp_path / "data"
    shutil.copytree(setup["data"], data)
    shard = data / sorted(n for n in os.listdir(data) if n.endswith(".tfrecord"))[0]
    raw = bytearray(shard.read_bytes())
    if damage == "truncated":
        raw = raw[: len(raw) * 2 // 3]
    elif damage == "corrupted":
        middle = len(raw) // 2
        raw[middle: middle + 16] = bytes(b ^ 0xFF for b in raw[middle: middle + 16])
    else:  # records of another max_seq_length, as from another run
        records = [tf.train.Example.FromString(r) for r in tf.data.TFRecordDataset(str(shard)).as_numpy_iterator()]
        with tf.io.TFRecordWriter(str(shard)) as writer:
            for example in records:
                for name in ("input_ids", "input_mask", "segment_ids"):
                    values = example.features.feature[name].int64_list.value
                    del values[SEQ // 2:]
                writer.write(example.SerializeToString())
        return data, shard, 0
    shard.write_bytes(bytes(raw))
    readable = 0
    try:
        for _ in tf.data.TFRecordDataset(str(shard)):
            readable += 1
    except tf.errors.DataLossError:
        pass
    return data, shard, readable


@pytest.mark.parametrize("damage", ["truncated", "corrupted", "other_max_seq_length"])
def test_damaged_shard_is_named_or_skipped_and_counted(setup, tmp_path, damage):
    import tensorflow as tf

    from kerasbert.data.pretraining_dataset import CorruptDataError

    data, shard, readable = damaged_copy(setup, tmp_path, damage)
    run = dict(train_data=str(data), eval_data=None, train_steps=10)
    with pytest.raises(CorruptDataError, match=re.escape(str(shard))):
        pretrain(options(setup, tmp_path / "stops", **run))
    assert not (tmp_path / "stops" / "checkpoint").exists()

    # Skipping: exactly the sound records are read, each once.
    other = [s for s in os.listdir(data) if s.endswith(".tfrecord") and s != shard.name][0]
    sound = sum(1 for _ in tf.data.TFRecordDataset(str(data / other))) + readable
    dataset = pretraining_dataset(str(data), 64, SEQ, PREDICTIONS, is_training=False,
                                  skip_corrupt_records=True)
    ids = np.concatenate([batch["input_word_ids"] for batch in dataset.as_numpy_iterator()])
    assert len(ids) == sound and len(set(map(bytes, ids))) > 0.95 * sound
    assert (ids[:, 0] == ids[0, 0]).all()  # every row starts with [CLS]: no shifted record

    result = pretrain(options(setup, tmp_path / "skips", skip_corrupt_records=True, **run))
    assert result["step"] == 10
    assert list(result["skipped_shards"]) == [str(shard)]
    assert result["skipped_shards"][str(shard)]["records_used"] == readable


@pytest.mark.parametrize("scale", [0.0, 0.3, 0.5, 3.0, float("inf"), float("nan")])  # norm 0, under, over 2
def test_clip_factor_is_what_clip_by_global_norm_multiplies_by(scale):
    import tensorflow as tf

    from kerasbert.training.pretraining import _clip_factor

    gradients = [tf.constant([[3.0, 1.0], [1.0, 4.0]]) * scale, tf.constant([0.0, 0.0])]
    factor = _clip_factor(gradients, 2.0)
    clipped, _ = tf.clip_by_global_norm(gradients, 2.0)
    for ours, theirs in zip(gradients, clipped, strict=True):
        np.testing.assert_allclose(ours * factor, theirs, rtol=1e-6)
    assert np.isfinite(float(factor)) == np.isfinite(scale)


def test_mixed_float16_overflow_skips_the_step_and_lowers_the_loss_scale(setup):
    """A loss scale so large that the float16 gradients overflow: the step is
    skipped (weights unchanged), the scale halves, and training goes on."""
    import tensorflow as tf

    from kerasbert.training import create_optimizer
    from kerasbert.training import make_train_loop

    keras.config.set_dtype_policy("mixed_float16")
    pretrainer = BertPretrainer(BertEncoder(setup["config"]))
    optimizer = create_optimizer(1e-3, 100, optimizer="adamw", global_clipnorm=None, loss_scale=True)
    optimizer.build(pretrainer.trainable_variables)
    train_loop = make_train_loop(pretrainer, optimizer)
    batches = iter(pretraining_dataset(setup["data"], 16, SEQ, PREDICTIONS, is_training=False).repeat())

    optimizer.dynamic_scale.assign(2.0**30)  # float16 gradients times 2**30 overflow
    before = [w.numpy().copy() for w in pretrainer.trainable_weights]
    train_loop(batches, tf.constant(1))
    assert float(optimizer.dynamic_scale.numpy()) == 2.0**29
    for weight, old in zip(pretrainer.trainable_weights, before, strict=True):
        np.testing.assert_array_equal(weight.numpy(), old)

    for _ in range(30):  # the scale falls until steps apply, with finite weights
        totals = train_loop(batches, tf.constant(1))
        if any(not np.array_equal(w.numpy(), b) for w, b in zip(pretrainer.trainable_weights, before)):
            break
    else:
        pytest.fail("no step applied after 30 halvings of the loss scale")
    assert np.isfinite(float(totals["mlm_loss_sum"]))
    assert all(np.isfinite(w.numpy()).all() for w in pretrainer.trainable_weights)
    assert float(optimizer.dynamic_scale.numpy()) < 2.0**29


def test_mlm_only_trains(setup, tmp_path):
    """Without the NSP head the pooler gets no gradient: it is left alone."""
    model_dir = tmp_path / "mlm"
    pretrain(options(setup, model_dir, objective="mlm", eval_data=None))
    assert_loss_falls(model_dir)
