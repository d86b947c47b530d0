"""tf.data readers for pretraining TFRecords, with optional dynamic masking."""

import json
import os

import tensorflow as tf

from kerasbert.io_utils import expand_globs

METADATA_FILE = "metadata.json"
# google-research/bert's feature names -> ours (DESIGN.md names).
ORIGINAL_NAMES = {"input_ids": "input_word_ids", "segment_ids": "input_type_ids"}
SEQUENCE_FEATURES = ("input_word_ids", "input_mask", "input_type_ids")
PREDICTION_FEATURES = ("masked_lm_positions", "masked_lm_ids", "masked_lm_weights")


def pretraining_files(data):
    """A directory (its TFRecord shards), a file, or comma-separated globs."""
    if isinstance(data, str) and os.path.isdir(data):
        files = [
            os.path.join(data, name)
            for name in sorted(os.listdir(data))
            if name != METADATA_FILE and not name.startswith(".")
        ]
        if not files:
            raise FileNotFoundError(f"{data}: no TFRecord files in the directory")
        return files
    return expand_globs(data)


def feature_lengths(max_seq_length, max_predictions_per_seq):
    return {
        **{name: max_seq_length for name in SEQUENCE_FEATURES},
        **{name: max_predictions_per_seq for name in PREDICTION_FEATURES},
        "next_sentence_labels": 1,
    }


def check_pretraining_files(files, max_seq_length, max_predictions_per_seq):
    """Reads `metadata.json` (if any) and the first record of the first file;
    returns the mapping from stored feature names to ours.

    Raises:
        ValueError: naming the file and the length that does not match.
    """
    metadata = os.path.join(os.path.dirname(files[0]), METADATA_FILE)
    if os.path.exists(metadata):
        with open(metadata) as f:
            stored = json.load(f)
        for key, wanted in (
            ("max_seq_length", max_seq_length),
            ("max_predictions_per_seq", max_predictions_per_seq),
        ):
            if key in stored and stored[key] != wanted:
                raise ValueError(f"{metadata}: the data has {key}={stored[key]}, not {wanted}")
    try:
        first = next(iter(tf.data.TFRecordDataset(files[0]).take(1)), None)
    except tf.errors.OpError as e:
        raise ValueError(f"{files[0]}: not a readable TFRecord file ({e.message})") from e
    if first is None:
        raise ValueError(f"{files[0]}: the file holds no records")
    try:
        example = tf.train.Example.FromString(first.numpy())
    except Exception as e:  # protobuf raises its own DecodeError
        raise ValueError(f"{files[0]}: the first record is not a tf.Example ({e})") from e
    feature = example.features.feature
    names = {name: ORIGINAL_NAMES.get(name, name) for name in feature}
    wanted = feature_lengths(max_seq_length, max_predictions_per_seq)
    found = {}
    for stored, ours in names.items():
        values = feature[stored]
        found[ours] = len(values.int64_list.value) or len(values.float_list.value)
    missing = sorted(set(wanted) - set(found))
    if missing:
        raise ValueError(f"{files[0]}: records lack features {missing}")
    for name, length in wanted.items():
        if found[name] != length:
            flag = "max_seq_length" if name in SEQUENCE_FEATURES else "max_predictions_per_seq"
            raise ValueError(f"{files[0]}: {name} has length {found[name]}, but {flag}={length}")
    return {stored: ours for stored, ours in names.items() if ours in wanted}


def pretraining_dataset(
    data,
    batch_size,
    max_seq_length=128,
    max_predictions_per_seq=20,
    is_training=True,
    input_context=None,
    seed=None,
    drop_remainder=None,
    shuffle_buffer=10_000,
    dynamic_masking=None,
):
    """Batches of pretraining feature dicts: int32 ids, float32 weights.

    Args:
        data: a directory of shards, a file or comma-separated globs; shards
            from google-research/bert (`input_ids`, `segment_ids`) work too.
        batch_size: per input pipeline (per replica under `tf.distribute`:
            pass `input_context.get_per_replica_batch_size(global)`).
        is_training: shuffle and repeat forever.
        input_context: a `tf.distribute.InputContext`; files (or, with fewer
            files than pipelines, records) are split between pipelines.
        drop_remainder: default `is_training`; TPUs need True (static shapes).
        dynamic_masking: a `DynamicMasking`; masks are drawn afresh every
            time a sequence is read, from the sequence restored unmasked.
    """
    files = pretraining_files(data)
    names = check_pretraining_files(files, max_seq_length, max_predictions_per_seq)
    drop_remainder = is_training if drop_remainder is None else drop_remainder
    dataset = tf.data.Dataset.from_tensor_slices(files)
    pipelines = input_context.num_input_pipelines if input_context else 1
    pipeline = input_context.input_pipeline_id if input_context else 0
    shard_files = pipelines > 1 and len(files) >= pipelines
    if shard_files:
        dataset = dataset.shard(pipelines, pipeline)
    if is_training:
        dataset = dataset.shuffle(len(files), seed=seed)
    dataset = dataset.interleave(
        tf.data.TFRecordDataset,
        cycle_length=min(len(files), 4),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=seed is not None or not is_training,
    )
    if pipelines > 1 and not shard_files:
        dataset = dataset.shard(pipelines, pipeline)
    if is_training:
        dataset = dataset.shuffle(shuffle_buffer, seed=seed).repeat()
    lengths = feature_lengths(max_seq_length, max_predictions_per_seq)
    spec = {
        stored: tf.io.FixedLenFeature(
            [lengths[ours]], tf.float32 if ours == "masked_lm_weights" else tf.int64
        )
        for stored, ours in names.items()
    }

    def parse(records):
        parsed = tf.io.parse_example(records, spec)
        return {
            names[k]: v if v.dtype == tf.float32 else tf.cast(v, tf.int32)
            for k, v in parsed.items()
        }

    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder).map(
        parse, num_parallel_calls=tf.data.AUTOTUNE
    )
    if dynamic_masking is not None:
        dataset = dataset.map(dynamic_masking, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)
