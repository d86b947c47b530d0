"""BERT pretraining: a custom loop under any `tf.distribute` strategy.

Keras 3 `fit` fails under `MultiWorkerMirroredStrategy`, so the loop is
written out: `steps_per_loop` steps per `tf.function` call, each step
`strategy.run` on one batch per replica. Checkpoints (model, optimizer, step)
go to `model_dir`; a new run with the same `model_dir` resumes from the
newest one.

Faults: SIGTERM (preemption) saves a checkpoint at the end of the current
loop and stops with `PreemptedError`; a SIGKILL loses the steps since the
last periodic checkpoint; a failed checkpoint write stops with
`CheckpointWriteError` and leaves the previous checkpoints as they were; a
damaged data shard stops with `CorruptDataError` naming it (or is skipped
with `skip_corrupt_records`); a non-finite loss stops with
`NonFiniteLossError`.
"""

import dataclasses
import hashlib
import json
import logging
import math
import os
import signal
import threading
import time

import keras
import numpy as np
import tensorflow as tf

from kerasbert.config import SHAPE_FIELDS, BertConfig
from kerasbert.convert import load_any
from kerasbert.data.create_pretraining_data import masking_options
from kerasbert.data.dynamic_masking import DynamicMasking
from kerasbert.data.pretraining_dataset import (
    METADATA_FILE,
    explain_read_error,
    find_bad_shards,
    pretraining_dataset,
    pretraining_files,
)
from kerasbert.io_utils import remove_tree, write_json
from kerasbert.model_dir import CONFIG_FILE, VOCAB_FILE
from kerasbert.models import BertEncoder, BertPretrainer
from kerasbert.models.bert_pretrainer import losses_from_statistics
from kerasbert.text import WordPieceTokenizer, read_vocab
from kerasbert.training.optimizer import create_optimizer
from kerasbert.training.precision import auto_mixed_precision
from kerasbert.training.report import plot_history
from kerasbert.training.time_budget import TimeBudget

OBJECTIVES = ("mlm_nsp", "mlm_sop", "mlm")
PRECISIONS = (None, "float32", "mixed_bfloat16", "mixed_float16", "auto")
HISTORY_FILE = "history.jsonl"
RESULTS_FILE = "eval_results.json"
PLOT_FILE = "training.png"
CLIP_NORM = 1.0


class NonFiniteLossError(RuntimeError):
    """Training stopped: the loss became NaN or infinite."""


class PreemptedError(RuntimeError):
    """Training stopped on SIGTERM, after saving a checkpoint at the step
    reached; the same command continues from it."""


class CheckpointWriteError(RuntimeError):
    """A checkpoint could not be written (a full disk, say); the previous
    checkpoints are intact."""


@dataclasses.dataclass
class PretrainingOptions:
    """Everything `pretrain` needs; `train/pretrain.py` fills it from flags.

    `config` may be None when `model_dir` already holds `config.json`;
    `vocab_file` may be None when it holds `vocab.txt`. `batch_size` is
    global (split between replicas). `eval_steps` batches of `eval_data`
    are evaluated at the start of a fresh run (the untrained baseline), at
    every checkpoint and at the end. With `train_minutes`, training runs for
    as many steps as fit in that many minutes (`TimeBudget`: estimated
    again after every loop), at most `train_steps`. `mixed_precision="auto"` picks
    the policy by device (`auto_mixed_precision`).
    """

    model_dir: str
    train_data: str
    config: BertConfig | None = None
    vocab_file: str | None = None
    eval_data: str | None = None
    batch_size: int = 32
    train_steps: int = 1000
    train_minutes: float | None = None
    learning_rate: float = 1e-4
    warmup_steps: int = 100
    end_learning_rate: float = 0.0
    max_seq_length: int = 128
    max_predictions_per_seq: int = 20
    objective: str = "mlm_nsp"
    dynamic_masking: bool = False
    optimizer: str = "adamw"
    weight_decay: float = 0.01
    mixed_precision: str | None = None
    jit_compile: bool = False
    steps_per_loop: int = 10
    checkpoint_steps: int = 500
    keep_checkpoints: int = 3
    eval_steps: int = 100
    init_checkpoint: str | None = None
    seed: int = 12345
    show_progress: bool = True
    skip_corrupt_records: bool = False

    def check(self):
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective={self.objective!r} is not one of {OBJECTIVES}")
        if self.mixed_precision not in PRECISIONS:
            raise ValueError(f"mixed_precision={self.mixed_precision!r} is not one of {PRECISIONS}")
        for name in ("batch_size", "train_steps", "steps_per_loop", "checkpoint_steps"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}={getattr(self, name)} must be positive")
        if self.train_minutes is not None and not self.train_minutes > 0:
            raise ValueError(f"train_minutes={self.train_minutes} must be positive")


def pretrain(options, strategy=None):
    """Pretrains (or resumes pretraining) as `options` say.

    Returns:
        A dict: `step`, `train_steps` (the steps to train: `train_steps`, or
        as decided by `train_minutes`), `mixed_precision` (the dtype policy
        trained under), `train` (last loop's metrics), `eval` (final
        evaluation, if `eval_data`), `checkpoint`, and with
        `skip_corrupt_records` `skipped_shards` (`{file: {"records_used",
        "problem"}}` for the damaged shards, empty if none).

    Raises:
        NonFiniteLossError: naming the step and the last good checkpoint.
        PreemptedError: on SIGTERM, naming the checkpoint saved at the step.
        CheckpointWriteError: naming the checkpoint path and the cause.
        CorruptDataError: naming a truncated, corrupted or mismatched shard.
        ValueError: data, vocabulary and config that do not fit together.
    """
    options.check()
    strategy = strategy or tf.distribute.get_strategy()
    chief = _is_chief(strategy)
    initial_model = None
    if options.init_checkpoint and tf.train.latest_checkpoint(options.model_dir) is None:
        initial_model, options = _load_initial_model(options)
    config, vocab_file = _prepare_model_dir(options, chief)
    precision = options.mixed_precision
    if precision == "auto":
        precision = auto_mixed_precision(strategy)
        logging.info("mixed_precision=auto: %s", precision or "float32")
    if precision:
        keras.config.set_dtype_policy(precision)
    keras.utils.set_random_seed(options.seed)
    replicas = strategy.num_replicas_in_sync
    if options.batch_size % replicas:
        raise ValueError(f"batch_size={options.batch_size} is not divisible by {replicas} replicas")

    budget = None
    if options.train_minutes is not None:
        budget = TimeBudget(options.train_minutes, options.train_steps, strategy)
    with strategy.scope():
        pretrainer = BertPretrainer(BertEncoder(config), nsp=options.objective != "mlm")
        optimizer = create_optimizer(
            options.learning_rate,
            budget.train_steps if budget else options.train_steps,
            options.warmup_steps,
            optimizer=options.optimizer,
            weight_decay=options.weight_decay,
            global_clipnorm=None,
            loss_scale=precision == "mixed_float16",
            end_learning_rate=options.end_learning_rate,
        )
        optimizer.build(pretrainer.trainable_variables)
    checkpoint = tf.train.Checkpoint(
        model=pretrainer, optimizer=optimizer, **({"time_budget": budget} if budget else {})
    )
    checkpoint_dir = options.model_dir if chief else _worker_dir(options.model_dir, strategy)
    manager = tf.train.CheckpointManager(
        checkpoint, checkpoint_dir, max_to_keep=options.keep_checkpoints, checkpoint_name="ckpt"
    )
    if manager.latest_checkpoint:
        checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        logging.info("Resuming from %s", manager.latest_checkpoint)
    elif initial_model is not None:
        _copy_initial_weights(pretrainer, initial_model, options)
    step = int(optimizer.iterations.numpy())
    train_steps = _train_steps(options, budget)

    masking = None
    if options.dynamic_masking:
        masking = DynamicMasking(
            masking_options(
                WordPieceTokenizer(vocab_file), 0.15, options.max_predictions_per_seq, False
            ),
            seed=options.seed,
        )

    train_dataset = _distributed_dataset(
        strategy, options, options.train_data, True, seed=options.seed + step, dynamic_masking=masking
    )
    iterator = iter(train_dataset)
    train_loop = make_train_loop(pretrainer, optimizer, strategy, options.jit_compile)
    evaluate = _make_evaluator(pretrainer, strategy, options) if options.eval_data else None

    writers = _SummaryWriters(options.model_dir, chief)
    if evaluate and step == 0:
        writers.log(0, "eval", _reading(options.eval_data, options, evaluate))
    progress = keras.utils.Progbar(
        train_steps,
        verbose=1 if options.show_progress and chief else 0,
        stateful_metrics=["loss", "mlm_accuracy", "nsp_accuracy", "seq/s"],
    )
    progress.update(step)
    next_checkpoint = (step // options.checkpoint_steps + 1) * options.checkpoint_steps
    metrics = {}
    preemption = _PreemptionWatcher(strategy, manager)
    try:
        while step < train_steps:
            steps = min(options.steps_per_loop, train_steps - step)
            started = time.time()
            totals = _reading(options.train_data, options, lambda: train_loop(iterator, tf.constant(steps)))
            totals = {k: float(v) for k, v in totals.items()}
            elapsed = time.time() - started
            step += steps
            metrics = _metrics(totals)
            if not math.isfinite(metrics["loss"]):
                raise NonFiniteLossError(
                    f"loss is {metrics['loss']} at step {step}; stopping. The last good "
                    f"checkpoint is {manager.latest_checkpoint or 'none (no checkpoint yet)'}"
                )
            if budget:
                budget.after_loop(step, steps, elapsed)
                train_steps = progress.target = _train_steps(options, budget)
            metrics["learning_rate"] = float(optimizer.learning_rate.numpy())
            metrics["seq/s"] = steps * options.batch_size / elapsed
            writers.log(step, "train", metrics)
            progress.update(step, [(k, metrics[k]) for k in ("loss", "mlm_accuracy", "nsp_accuracy", "seq/s") if k in metrics])
            if step >= next_checkpoint or step >= train_steps:
                _save_checkpoint(manager, step)
                next_checkpoint += options.checkpoint_steps
                if evaluate:
                    writers.log(step, "eval", _reading(options.eval_data, options, evaluate))
            if preemption.requested(step) and step < train_steps:
                if _checkpoint_step(manager.latest_checkpoint) != step:
                    _save_checkpoint(manager, step)
                writers.close()
                raise PreemptedError(
                    f"preempted (SIGTERM) at step {step}: {manager.latest_checkpoint} holds that "
                    f"step; run the same command again to continue from it"
                )
    finally:
        preemption.close()
    if not chief:
        remove_tree(checkpoint_dir)
    result = {
        "step": step,
        "train_steps": train_steps,
        "mixed_precision": precision or "float32",
        "train": metrics,
        "checkpoint": manager.latest_checkpoint,
        "weights_sha256": _weights_digest(pretrainer),
    }
    if options.skip_corrupt_records:
        result["skipped_shards"] = _skipped_shards(options)
    writers.close()
    if evaluate:
        result["eval"] = writers.last("eval")
        if chief:
            result["baselines"] = _write_results(options, result, writers)
    if chief and tf.io.gfile.exists(writers.history_path):
        plot_history(writers.history_path, os.path.join(options.model_dir, PLOT_FILE))
    return result


def _train_steps(options, budget):
    return int(budget.train_steps.numpy()) if budget else options.train_steps


def make_train_loop(pretrainer, optimizer, strategy=None, jit_compile=False):
    """The pretraining step, looped: `loop(iterator, steps)` runs `steps`
    optimizer steps on batches from `iterator` (a distributed iterator under
    `strategy`) and returns the summed statistics of
    `BertPretrainer.pretraining_statistics`.

    Forward and backward run in one `tf.function`; the gradient is
    all-reduced, clipped to a global norm of 1.0 and applied by `optimizer`.
    `jit_compile` compiles forward and backward with XLA. Variables that get
    no gradient (the pooler when there is no NSP head) are left alone.
    """
    strategy = strategy or tf.distribute.get_strategy()
    replicas = strategy.num_replicas_in_sync
    variables = pretrainer.trainable_variables
    loss_scaled = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)

    @tf.function(jit_compile=jit_compile)
    def gradients(features):
        with tf.GradientTape() as tape:
            outputs = pretrainer(features, training=True)
            stats = pretrainer.pretraining_statistics(features, outputs)
            loss = sum(losses_from_statistics(stats).values()) / replicas
            scaled = optimizer.scale_loss(loss)
        return tape.gradient(scaled, variables), stats

    def replica_step(features):
        grads, stats = gradients(features)
        trained = [(g, v) for g, v in zip(grads, variables) if g is not None]
        grads = [tf.convert_to_tensor(g) for g, _ in trained]  # embedding gathers give IndexedSlices
        # Clip the all-reduced gradient by its global norm (the optimizer would
        # clip each replica's share); it all-reduces (sums) again, hence / replicas.
        grads = tf.distribute.get_replica_context().all_reduce("sum", grads)
        scale = optimizer.dynamic_scale if loss_scaled else 1.0
        factor = _clip_factor(grads, CLIP_NORM * scale) / replicas
        optimizer.apply([g * factor for g in grads], [v for _, v in trained])
        return stats

    @tf.function
    def train_loop(iterator, steps):
        totals = _zero_statistics(pretrainer)
        for _ in tf.range(steps):
            stats = strategy.run(replica_step, args=(next(iterator),))
            totals = {k: totals[k] + strategy.reduce("sum", stats[k], axis=None) for k in totals}
        return totals

    return train_loop


def _clip_factor(gradients, clip_norm):
    """What `tf.clip_by_global_norm` multiplies the gradients by: 1 up to a
    global norm of `clip_norm`, `clip_norm / norm` above it, NaN when the
    norm is not finite (so that loss scaling sees the overflow). Applied
    together with the replica mean, one pass over the gradients instead of
    two (11M values for BERT-mini)."""
    norm = tf.linalg.global_norm(gradients)
    factor = clip_norm / tf.maximum(norm, clip_norm)
    return tf.where(tf.math.is_finite(norm), factor, float("nan"))


def _weights_digest(model):
    """Identifies the exact weights (workers of one run must agree)."""
    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(np.ascontiguousarray(weight.numpy()).tobytes())
    return digest.hexdigest()


def _zero_statistics(pretrainer):
    keys = ["mlm_loss_sum", "mlm_correct", "mlm_weight"]
    if pretrainer.nsp:
        keys += ["nsp_loss_sum", "nsp_correct", "nsp_count"]
    return {k: tf.constant(0.0) for k in keys}


def _distributed_dataset(strategy, options, data, is_training, **kwargs):
    """Each input pipeline reads its share; batches are static (TPU-ready)."""
    kwargs.setdefault("skip_corrupt_records", options.skip_corrupt_records)

    def dataset_fn(context):
        dataset = pretraining_dataset(
            data,
            context.get_per_replica_batch_size(options.batch_size),
            options.max_seq_length,
            options.max_predictions_per_seq,
            is_training=is_training,
            input_context=context,
            drop_remainder=True,
            **kwargs,
        )
        return dataset if is_training else dataset.repeat()

    return strategy.distribute_datasets_from_function(dataset_fn)


def _make_evaluator(pretrainer, strategy, options):
    steps = options.eval_steps
    instances = _metadata(options.eval_data).get("stats", {}).get("instances")
    if instances:
        steps = max(1, min(steps, instances // options.batch_size))
    dataset = _distributed_dataset(strategy, options, options.eval_data, False)

    def replica_statistics(features):
        outputs = pretrainer(features, training=False, masked_rows_only=True)
        return pretrainer.pretraining_statistics(features, outputs)

    @tf.function
    def eval_loop(iterator):
        totals = _zero_statistics(pretrainer)
        for _ in tf.range(steps):
            stats = strategy.run(replica_statistics, args=(next(iterator),))
            totals = {k: totals[k] + strategy.reduce("sum", stats[k], axis=None) for k in totals}
        return totals

    def evaluate():
        totals = {k: float(v) for k, v in eval_loop(iter(dataset)).items()}
        return _metrics(totals)

    return evaluate


def _metrics(totals):
    losses = {name: float(value) for name, value in losses_from_statistics(totals).items()}
    metrics = {
        "loss": sum(losses.values()),
        **losses,
        "mlm_accuracy": totals["mlm_correct"] / max(totals["mlm_weight"], 1.0),
    }
    if "nsp_count" in totals:
        metrics["nsp_accuracy"] = totals["nsp_correct"] / max(totals["nsp_count"], 1.0)
    return metrics


def majority_baselines(train_data, eval_data, max_seq_length=128, max_predictions_per_seq=20,
                       batches=100, batch_size=64):
    """Accuracy on `eval_data` of always predicting the most frequent masked
    token (and the most frequent NSP label) of `train_data`."""

    def labels(data, count):
        dataset = pretraining_dataset(
            data, batch_size, max_seq_length, max_predictions_per_seq, is_training=False
        )
        ids, weights, nsp = [], [], []
        for features in dataset.take(count):
            ids.append(features["masked_lm_ids"].numpy().ravel())
            weights.append(features["masked_lm_weights"].numpy().ravel())
            nsp.append(features["next_sentence_labels"].numpy().ravel())
        ids, weights = np.concatenate(ids), np.concatenate(weights)
        return ids[weights > 0], np.concatenate(nsp)

    train_ids, train_nsp = labels(train_data, batches)
    eval_ids, eval_nsp = labels(eval_data, batches)
    token = int(np.bincount(train_ids).argmax())
    label = int(np.bincount(train_nsp).argmax())
    return {
        "token": token,
        "mlm_accuracy": float(np.mean(eval_ids == token)),
        "nsp_accuracy": float(np.mean(eval_nsp == label)),
    }


def _prepare_model_dir(options, chief):
    """Resolves the config and vocabulary and writes them to `model_dir`
    (`config.json`, `vocab.txt`): a model dir is self-contained."""
    model_dir = options.model_dir
    saved_config = os.path.join(model_dir, CONFIG_FILE)
    config = options.config
    if tf.io.gfile.exists(saved_config):
        saved = BertConfig.from_json_file(saved_config)
        if config is not None and config != saved:
            raise ValueError(
                f"{saved_config} holds another config than the one given; use a new "
                f"--model_dir or drop --preset/--bert_config_file to resume"
            )
        config = saved
    if config is None:
        raise ValueError(f"no config: give --preset or --bert_config_file ({saved_config} absent)")
    vocab_file = options.vocab_file or os.path.join(model_dir, VOCAB_FILE)
    vocab_size = len(read_vocab(vocab_file))
    if vocab_size != config.vocab_size:
        raise ValueError(
            f"{vocab_file} has {vocab_size} pieces but the config's vocab_size is "
            f"{config.vocab_size}"
        )
    metadata = _metadata(options.train_data)
    for key, wanted in (("vocab_size", config.vocab_size), ("sop", options.objective == "mlm_sop")):
        if key in metadata and metadata[key] != wanted:
            raise ValueError(
                f"{options.train_data}: the data was made with {key}={metadata[key]}, "
                f"but this run needs {key}={wanted} (objective={options.objective})"
            )
    if chief:  # through tf.io.gfile: model_dir may be on gs://, as on a TPU
        tf.io.gfile.makedirs(model_dir)
        config.to_json_file(saved_config)
        target = os.path.join(model_dir, VOCAB_FILE)
        if os.path.abspath(vocab_file) != os.path.abspath(target):
            tf.io.gfile.copy(vocab_file, target, overwrite=True)
        for stale in tf.io.gfile.glob(os.path.join(model_dir, "*_temp*")):
            remove_tree(stale)  # a save cut off by a kill
    return config, vocab_file


def _metadata(data):
    files = pretraining_files(data)
    path = os.path.join(os.path.dirname(files[0]), METADATA_FILE)
    if not tf.io.gfile.exists(path):
        return {}
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)


def _load_initial_model(options):
    """Loads `options.init_checkpoint` (any of `kerasbert.convert.FORMATS`);
    its config and vocabulary become the run's where none is given."""
    model, vocab_file = load_any(options.init_checkpoint)
    encoder = model.encoder if isinstance(model, BertPretrainer) else model
    config = options.config or encoder.config
    ours, theirs = config.to_dict(), encoder.config.to_dict()
    differ = [f"{f}={ours[f]} vs {theirs[f]}" for f in SHAPE_FIELDS if ours[f] != theirs[f]]
    if differ:
        raise ValueError(
            f"--init_checkpoint {options.init_checkpoint} does not fit the given config: "
            + ", ".join(differ)
        )
    if options.vocab_file is None and vocab_file is None:
        raise FileNotFoundError(
            f"{options.init_checkpoint}: no vocab.txt beside it; give --vocab_file"
        )
    return model, dataclasses.replace(
        options, config=config, vocab_file=options.vocab_file or vocab_file
    )


def _copy_initial_weights(pretrainer, initial, options):
    """The encoder's weights, and those of the heads the source has."""
    pairs = {"encoder": (pretrainer.encoder, initial)}
    if isinstance(initial, BertPretrainer):
        pairs["encoder"] = (pretrainer.encoder, initial.encoder)
        pairs["MLM head"] = (pretrainer.mlm_head, initial.mlm_head)
        if initial.nsp_head is not None and options.objective == "mlm_nsp":
            pairs["NSP head"] = (pretrainer.nsp_head, initial.nsp_head)
    for ours, theirs in pairs.values():
        ours.set_weights(theirs.get_weights())
    logging.info("Initialized %s from %s", ", ".join(pairs), options.init_checkpoint)


def _is_chief(strategy):
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def _worker_dir(model_dir, strategy):
    """Non-chief workers must save too (saving is collective); they write
    to a private directory that is deleted at the end."""
    resolver = strategy.cluster_resolver
    return os.path.join(model_dir, f".worker_{resolver.task_type}_{resolver.task_id}")


class _SummaryWriters:
    """TensorBoard scalars (`train/`, `eval/`) and a JSON-lines history."""

    def __init__(self, model_dir, chief):
        self.chief = chief
        self.history_path = os.path.join(model_dir, HISTORY_FILE)
        self.writers = {}
        self.model_dir = model_dir
        self.latest = {}

    def log(self, step, split, metrics):
        self.latest[split] = metrics
        if not self.chief:
            return
        if split not in self.writers:
            self.writers[split] = tf.summary.create_file_writer(os.path.join(self.model_dir, split))
        with self.writers[split].as_default():
            for name, value in metrics.items():
                tf.summary.scalar(name.replace("/", "_per_"), value, step=step)
        with tf.io.gfile.GFile(self.history_path, "a") as f:
            f.write(json.dumps({"step": step, "split": split, **metrics}) + "\n")

    def last(self, split):
        return self.latest.get(split)

    def history(self):
        if not tf.io.gfile.exists(self.history_path):
            return []
        with tf.io.gfile.GFile(self.history_path) as f:
            return [json.loads(line) for line in f if line.strip()]

    def close(self):
        for writer in self.writers.values():
            writer.close()


def _write_results(options, result, writers):
    evals = [r for r in writers.history() if r["split"] == "eval"]
    untrained = next((r for r in evals if r["step"] == 0), None)
    results = {
        "step": result["step"],
        "pretrained": result["eval"],
        "untrained": untrained,
        "most_frequent": majority_baselines(
            options.train_data,
            options.eval_data,
            options.max_seq_length,
            options.max_predictions_per_seq,
        ),
    }
    write_json(os.path.join(options.model_dir, RESULTS_FILE), results)
    return results


def _save_checkpoint(manager, step):
    """`manager.save`, with a failed write (a full disk, a lost mount) named.
    The checkpoint state file is only updated after a complete write, so the
    previous checkpoints stay the ones a restart resumes from."""
    try:
        return manager.save(checkpoint_number=step)
    except (OSError, tf.errors.OpError) as e:
        path = os.path.join(manager.directory, f"ckpt-{step}")
        cause = e.message if isinstance(e, tf.errors.OpError) else str(e)
        raise CheckpointWriteError(
            f"could not write the checkpoint {path} at step {step}: {cause.strip()}. "
            f"The last complete checkpoint is {manager.latest_checkpoint or 'none'}; "
            f"free space and run the same command again to resume from it"
        ) from e


def _checkpoint_step(path):
    return int(path.rsplit("-", 1)[1]) if path else None


def _reading(data, options, run):
    """Runs `run()`, which reads `data`; a read error from a damaged shard
    becomes a `CorruptDataError` naming the shard (tf.data names none)."""
    try:
        return run()
    except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as e:
        explained = explain_read_error(
            data, e, options.max_seq_length, options.max_predictions_per_seq
        )
        if explained is None:
            raise
        raise explained from e


def _skipped_shards(options):
    skipped = {}
    for data in dict.fromkeys(d for d in (options.train_data, options.eval_data) if d):
        bad = find_bad_shards(data, options.max_seq_length, options.max_predictions_per_seq)
        for path, (records, problem) in bad.items():
            skipped[path] = {"records_used": records, "problem": problem}
    return skipped


class _PreemptionWatcher:
    """Turns SIGTERM into a checkpoint at the end of the current loop.

    Multi-worker runs use TensorFlow's `PreemptionCheckpointHandler`: all
    workers must save at the same step (saving is collective), and it agrees
    on that step between them. In one process (one device, mirrored, TPU) a
    flag set by a signal handler and checked between loops does the same.
    """

    def __init__(self, strategy, manager):
        self.signalled = False
        self.handler = None
        self.previous = None
        if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
            self.handler = tf.distribute.experimental.PreemptionCheckpointHandler(
                strategy.cluster_resolver,
                manager,
                termination_config=tf.distribute.experimental.TerminationConfig(
                    exit_fn=self._on_signal
                ),
            )
        elif threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGTERM, self._on_signal)

    def _on_signal(self, *_):
        self.signalled = True

    def requested(self, step):
        """True once a SIGTERM arrived (multi-worker: and its checkpoint is saved)."""
        if self.handler is not None:
            self.handler.save_checkpoint_if_preempted(checkpoint_number=step)
        return self.signalled

    def close(self):
        if self.handler is not None:
            # The handler's watcher thread blocks in a coordination-service
            # call and holds a reference to the handler, so the handler's
            # `__del__`, its only clean-up when no preemption came, never runs
            # before exit: stop the threads while every worker is still up.
            self.handler._stop_cluster_wise_termination_watcher_thread()
            self.handler._stop_poll_termination_signal_thread()
            self.handler = None
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)
            self.previous = None
