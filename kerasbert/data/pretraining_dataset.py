"""tf.data readers for pretraining TFRecords, with optional dynamic masking.

Damaged shards: tf.data reports a corrupted or truncated TFRecord with a
`DataLossError` that does not name the file, and a record of another length
with an `InvalidArgumentError` from the parser. So the reader checks the first
record of every shard before it starts (cheap: one record per file), and
`find_bad_shards` reads every shard to name the culprit once a read has failed
(the pretraining loop calls it then; a healthy run pays nothing). With
`skip_corrupt_records=True` the shards are read through once up front and
each is used up to its first bad record: TFRecords cannot resynchronise after
a damaged length field, and tf.data itself gives up on a file at its first
error, so the rest of a damaged shard is skipped and reported.
"""

import concurrent.futures
import functools
import json
import logging
import os

import tensorflow as tf

from kerasbert.io_utils import expand_globs

METADATA_FILE = "metadata.json"
# google-research/bert's feature names -> ours (DESIGN.md names).
ORIGINAL_NAMES = {"input_ids": "input_word_ids", "segment_ids": "input_type_ids"}
SEQUENCE_FEATURES = ("input_word_ids", "input_mask", "input_type_ids")
PREDICTION_FEATURES = ("masked_lm_positions", "masked_lm_ids", "masked_lm_weights")


def pretraining_files(data):
    """A directory (its TFRecord shards), a file, or comma-separated globs,
    on any filesystem TensorFlow reads (local, `gs://`)."""
    if isinstance(data, str) and tf.io.gfile.isdir(data):
        files = [
            os.path.join(data, name)
            for name in sorted(tf.io.gfile.listdir(data))
            if name != METADATA_FILE and not name.startswith(".") and not name.endswith("/")
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


class CorruptDataError(ValueError):
    """A pretraining shard is truncated, corrupted or of other lengths."""


def check_pretraining_files(files, max_seq_length, max_predictions_per_seq, skip_bad=False):
    """Reads `metadata.json` (if any) and the first record of every file;
    returns the mapping from stored feature names to ours (and, with
    `skip_bad`, the files whose first record is fine).

    Raises:
        ValueError: naming the file and the length that does not match.
    """
    metadata = os.path.join(os.path.dirname(files[0]), METADATA_FILE)
    if tf.io.gfile.exists(metadata):
        with tf.io.gfile.GFile(metadata) as f:
            stored = json.load(f)
        for key, wanted in (
            ("max_seq_length", max_seq_length),
            ("max_predictions_per_seq", max_predictions_per_seq),
        ):
            if key in stored and stored[key] != wanted:
                raise ValueError(f"{metadata}: the data has {key}={stored[key]}, not {wanted}")
    names = None
    good_files = []
    for path in files:
        try:
            file_names = _check_first_record(path, max_seq_length, max_predictions_per_seq)
        except ValueError:
            if not skip_bad:
                raise
            continue
        names = names or file_names
        good_files.append(path)
    if names is None:
        raise CorruptDataError(f"{', '.join(files)}: no shard has a usable first record")
    return (names, good_files) if skip_bad else names


def _check_first_record(path, max_seq_length, max_predictions_per_seq):
    try:
        first = next(iter(tf.data.TFRecordDataset(path).take(1)), None)
    except tf.errors.OpError as e:
        raise CorruptDataError(f"{path}: not a readable TFRecord file ({e.message})") from e
    if first is None:
        raise CorruptDataError(f"{path}: the file holds no records")
    try:
        example = tf.train.Example.FromString(first.numpy())
    except Exception as e:  # protobuf raises its own DecodeError
        raise CorruptDataError(f"{path}: the first record is not a tf.Example ({e})") from e
    feature = example.features.feature
    names = {name: ORIGINAL_NAMES.get(name, name) for name in feature}
    wanted = feature_lengths(max_seq_length, max_predictions_per_seq)
    found = {}
    for stored, ours in names.items():
        values = feature[stored]
        found[ours] = len(values.int64_list.value) or len(values.float_list.value)
    missing = sorted(set(wanted) - set(found))
    if missing:
        raise CorruptDataError(f"{path}: records lack features {missing}")
    for name, length in wanted.items():
        if found[name] != length:
            flag = "max_seq_length" if name in SEQUENCE_FEATURES else "max_predictions_per_seq"
            raise CorruptDataError(f"{path}: {name} has length {found[name]}, but {flag}={length}")
    return {stored: ours for stored, ours in names.items() if ours in wanted}


def _parse_spec(names, max_seq_length, max_predictions_per_seq):
    lengths = feature_lengths(max_seq_length, max_predictions_per_seq)
    return {
        stored: tf.io.FixedLenFeature(
            [lengths[ours]], tf.float32 if ours == "masked_lm_weights" else tf.int64
        )
        for stored, ours in names.items()
    }


def scan_shard(path, spec, batch_size=1024):
    """Reads one shard through: `(usable_records, problem)`, where the first
    `usable_records` records parse with `spec` and `problem` (None for a
    sound shard) says what stops the rest."""
    records = tf.data.TFRecordDataset(path)
    # tf.data ends a file at its first read error: this counts the records before it.
    readable = int(
        records.apply(tf.data.experimental.ignore_errors())
        .reduce(tf.constant(0, tf.int64), lambda count, _: count + 1)
        .numpy()
    )
    problem = None
    try:
        next(iter(records.skip(readable)), None)
    except tf.errors.OpError as e:
        problem = f"corrupted or truncated after {readable} records ({_first_line(e)})"
    usable = 0
    for batch in records.take(readable).batch(batch_size):
        try:
            tf.io.parse_example(batch, spec)
            usable += len(batch)
            continue
        except tf.errors.InvalidArgumentError:
            pass
        for record in batch:  # find the first record that does not parse
            try:
                tf.io.parse_example(record[None], spec)
            except tf.errors.InvalidArgumentError as e:
                return usable, f"record {usable} does not fit the expected lengths ({_first_line(e)})"
            usable += 1
    return usable, problem


def _first_line(error):
    return error.message.strip().splitlines()[0]


def find_bad_shards(data, max_seq_length=128, max_predictions_per_seq=20):
    """Reads every shard of `data`: `{file: (usable_records, problem)}` for
    the damaged ones (a truncated or corrupted record, or records of other
    lengths)."""
    files = tuple(pretraining_files(data))
    stamps = tuple(_stamp(path) for path in files)
    return dict(_find_bad_shards(files, stamps, max_seq_length, max_predictions_per_seq))


def _stamp(path):
    stat = os.stat(path)
    return stat.st_size, stat.st_mtime_ns


@functools.lru_cache(maxsize=8)
def _find_bad_shards(files, stamps, max_seq_length, max_predictions_per_seq):
    """Cached by file sizes and times: the train and eval pipelines, and each
    replica's, share one read of the data."""
    del stamps  # part of the cache key only
    names, _ = check_pretraining_files(files, max_seq_length, max_predictions_per_seq, skip_bad=True)
    spec = _parse_spec(names, max_seq_length, max_predictions_per_seq)
    with concurrent.futures.ThreadPoolExecutor(min(8, len(files))) as pool:
        scans = list(pool.map(lambda path: scan_shard(path, spec), files))
    return tuple((path, scan) for path, scan in zip(files, scans) if scan[1] is not None)


def explain_read_error(data, error, max_seq_length=128, max_predictions_per_seq=20):
    """A `CorruptDataError` naming the damaged shards of `data`, for an
    `error` raised while reading it; None if every shard reads (the error
    came from elsewhere)."""
    bad = find_bad_shards(data, max_seq_length, max_predictions_per_seq)
    if not bad:
        return None
    lines = [f"{path}: {problem}" for path, (_, problem) in bad.items()]
    return CorruptDataError(
        "; ".join(lines) + ". Re-create or remove the shard, or pass --skip_corrupt_records "
        f"to skip what cannot be read (reading failed with: {_first_line(error)})"
    )


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
    skip_corrupt_records=False,
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
        skip_corrupt_records: read every shard through first and use each
            up to its first bad record (see `find_bad_shards`), logging what
            is skipped; without it a damaged shard stops the reading with a
            tf.errors.OpError (`explain_read_error` names the file).

    Raises:
        CorruptDataError: a shard whose first record is unreadable or of
            other lengths (unless `skip_corrupt_records`).
    """
    files = pretraining_files(data)
    usable = {}  # records to read from each damaged shard
    if skip_corrupt_records:
        names, _ = check_pretraining_files(
            files, max_seq_length, max_predictions_per_seq, skip_bad=True
        )
        bad = find_bad_shards(data, max_seq_length, max_predictions_per_seq)
        for path, (records, problem) in bad.items():
            logging.warning("Skipping %s after its first %d records: %s", path, records, problem)
        usable = {path: records for path, (records, _) in bad.items()}
        files = [path for path in files if usable.get(path, 1) > 0]
        if not files:
            raise CorruptDataError(f"{data}: no shard has a usable record")
    else:
        names = check_pretraining_files(files, max_seq_length, max_predictions_per_seq)
    drop_remainder = is_training if drop_remainder is None else drop_remainder
    records = [usable.get(path, -1) for path in files]  # take(-1): the whole shard
    dataset = tf.data.Dataset.from_tensor_slices((files, tf.constant(records, tf.int64)))
    pipelines = input_context.num_input_pipelines if input_context else 1
    pipeline = input_context.input_pipeline_id if input_context else 0
    shard_files = pipelines > 1 and len(files) >= pipelines
    if shard_files:
        dataset = dataset.shard(pipelines, pipeline)
    if is_training:
        dataset = dataset.shuffle(len(files), seed=seed)
    dataset = dataset.interleave(
        lambda path, records: tf.data.TFRecordDataset(path).take(records),
        cycle_length=min(len(files), 4),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=seed is not None or not is_training,
    )
    if pipelines > 1 and not shard_files:
        dataset = dataset.shard(pipelines, pipeline)
    if is_training:
        dataset = dataset.shuffle(shuffle_buffer, seed=seed).repeat()
    spec = _parse_spec(names, max_seq_length, max_predictions_per_seq)

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

