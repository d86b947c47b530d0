"""Raw text -> sharded TFRecords of masked-LM + next-sentence instances."""

import concurrent.futures
import contextlib
import functools
import gc
import json
import mmap
import multiprocessing
import os
import re
import shutil
import struct
import time

import google_crc32c
import keras
import numpy as np
import tensorflow as tf

from kerasbert.data import pretraining_instances as instances_lib
from kerasbert.data.text_corpus import CorpusStats, read_documents
from kerasbert.data.tokenized_documents import TokenizedDocuments
from kerasbert.io_utils import atomic_directory, expand_globs
from kerasbert.text import WordPieceTokenizer
from kerasbert.text_files import document_ranges

DOCUMENTS_PER_TASK = 64
FILES_PER_TASK = 16  # per pool task: for one small file the messaging costs more than reading it
# Below this much input, sentences are split in process: on BBC's 5 MB that
# takes 0.10 s, a pool of 2 forked readers 0.21 s, and the run after it is
# slower too (4.35 s against 3.85 s, medians of 6 interleaved runs).
PARALLEL_READ_BYTES = 32 << 20
TOKENIZE_BATCH = 16384
READ_PART_BYTES = 64 << 20  # input files read and tokenized together
WRITE_BATCH = 1024  # records joined per write: about 2 MB
METADATA_FILE = "metadata.json"
PARTS_DIR = ".parts"  # the workers' records, inside the output's temporary directory
TIMINGS = ("seconds", "instance_seconds")  # statistics kept out of metadata.json, which must not vary

_WORKER_STATE = {}  # inherited by forked workers: documents and options


def create_pretraining_data(
    input_files,
    vocab_file,
    output_dir,
    num_shards=4,
    max_seq_length=128,
    max_predictions_per_seq=20,
    masked_lm_prob=0.15,
    short_seq_prob=0.1,
    dupe_factor=10,
    random_seed=12345,
    whole_word_mask=False,
    sop=False,
    do_lower_case=True,
    input_format="lines",
    language="en",
    num_workers=2,
    overwrite=False,
    show_progress=True,
):
    """Writes `output_dir/train-NNNNN-of-NNNNN.tfrecord` shards of
    tf.Examples (`input_word_ids`, `input_mask`, `input_type_ids`,
    `masked_lm_positions`, `masked_lm_ids`, `masked_lm_weights`,
    `next_sentence_labels`) and `metadata.json` (the options and the
    statistics), with google-research/bert's algorithm (see
    `pretraining_instances`). The output is identical for a given
    `random_seed` whatever `num_workers`; the directory appears whole or not
    at all, and an existing one is refused unless `overwrite`. Memory holds
    the tokenized corpus (`TokenizedDocuments`) but not the output: the
    workers write their records to part files and copy the shards out of
    them, so while it runs the disk holds the output twice.

    Returns:
        The statistics: files, documents, sentences, empty_documents,
        replaced_characters, instances, tokens, masked_tokens, random_next,
        seconds, and instance_seconds (the part of them spent creating
        instances, in the workers; the rest is reading and tokenizing, in
        this process, and writing the shards, in the workers).
    """
    started = time.time()
    if max_seq_length < 5:
        raise ValueError(f"max_seq_length={max_seq_length} must be at least 5")
    if tf.io.gfile.exists(output_dir) and not overwrite:
        raise FileExistsError(f"{output_dir} already exists (pass overwrite to replace it)")
    files = expand_globs(input_files)
    sizes = [os.path.getsize(path) for path in files]
    readers = num_workers if sum(sizes) >= PARALLEL_READ_BYTES else 1
    tokenizer = WordPieceTokenizer(vocab_file, lower_case=do_lower_case)
    stats, pieces, read_bytes = CorpusStats(), [], 0
    reading = keras.utils.Progbar(
        max(sum(sizes) >> 20, 1), verbose=1 if show_progress else 0, unit_name="MB", stateful_metrics=["documents"]
    )
    with _pool(readers) as pool:  # sentence splitting is plain Python: shared out
        read_in_chunks = functools.partial(pool.map, chunksize=FILES_PER_TASK)
        # A part of the input at a time: its sentence strings take ~1.5
        # times the text, its ids 4 bytes a token.
        for part, part_bytes in _parts_of(files, sizes, READ_PART_BYTES, input_format):
            texts, part_stats = read_documents(part, input_format, language, map_function=read_in_chunks)
            pieces.append(tokenize_documents(texts, tokenizer))
            stats.update(part_stats)
            stats["empty_documents"] += len(texts) - len(pieces[-1])
            del texts
            read_bytes += part_bytes
            reading.update(max(read_bytes >> 20, 1), [("documents", sum(map(len, pieces)))])
    if not stats["sentences"]:
        raise ValueError(f"no text in the input files {files[:5]}{'...' if len(files) > 5 else ''}")
    documents = TokenizedDocuments.concatenate(pieces)
    del pieces
    stats["documents"] = len(documents)
    if len(documents) < 2:
        raise ValueError(f"{files}: need at least 2 non-empty documents, found {len(documents)}")
    instances_lib.task_rng(random_seed, "documents").shuffle(documents.order)

    with atomic_directory(output_dir, overwrite=overwrite, last=(METADATA_FILE,)) as tmp:
        parts_dir = os.path.join(tmp, PARTS_DIR)
        os.mkdir(parts_dir)
        _WORKER_STATE.update(
            documents=documents,
            options=masking_options(tokenizer, masked_lm_prob, max_predictions_per_seq, whole_word_mask),
            max_seq_length=max_seq_length,
            max_predictions_per_seq=max_predictions_per_seq,
            short_seq_prob=short_seq_prob,
            sop=sop,
            seed=random_seed,
            parts_dir=parts_dir,
        )
        tasks = [
            (dupe, start)
            for dupe in range(dupe_factor)
            for start in range(0, len(documents), DOCUMENTS_PER_TASK)
        ]
        shard_paths = [
            os.path.join(tmp, f"train-{shard:05d}-of-{num_shards:05d}.tfrecord") for shard in range(num_shards)
        ]
        parts = []
        progress = keras.utils.Progbar(
            len(tasks) + num_shards,
            verbose=1 if show_progress else 0,
            unit_name="task",
            stateful_metrics=["instances"],
        )
        instances_started = time.time()
        with _pool(num_workers) as pool:
            for part in pool.map(_run_task, tasks):
                parts.append(part)
                stats.update(part["counts"])
                progress.add(1, [("instances", stats["instances"])])
            instance_seconds = time.time() - instances_started
            shuffle = instances_lib.task_rng(random_seed, "instances").shuffle
            for _ in pool.map(_write_shard, _shard_plans(parts, shard_paths, shuffle)):
                progress.add(1)
        shutil.rmtree(parts_dir)
        seconds = round(time.time() - started, 2)
        stats = dict(stats, seconds=seconds, instance_seconds=round(instance_seconds, 2))
        metadata = dict(
            max_seq_length=max_seq_length,
            max_predictions_per_seq=max_predictions_per_seq,
            masked_lm_prob=masked_lm_prob,
            short_seq_prob=short_seq_prob,
            dupe_factor=dupe_factor,
            random_seed=random_seed,
            whole_word_mask=whole_word_mask,
            sop=sop,
            do_lower_case=do_lower_case,
            vocab_size=tokenizer.vocab_size,
            num_shards=num_shards,
            stats={k: v for k, v in stats.items() if k not in TIMINGS},
        )
        with open(os.path.join(tmp, METADATA_FILE), "w") as f:
            json.dump(metadata, f, indent=2, sort_keys=True)
    return stats


def tokenize_documents(texts, tokenizer):
    """Sentences -> a `TokenizedDocuments`; sentences and documents left
    without tokens are dropped."""
    sentences = [s for document in texts for s in document]

    # Traced: in a graph the tokenizer cuts each batch into one part per
    # core. BBC: 0.23 s, 0.29 s with the tracing, against 0.35-0.57 s for
    # eager calls on two threads and 0.5-0.74 s on one.
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def tokenize(batch):
        ragged = tokenizer.tokenize(batch, flat=True)
        return tf.cast(ragged.flat_values, tf.int32), ragged.row_lengths()

    ids, lengths = [np.zeros(0, np.int32)], [np.zeros(0, np.int64)]
    for start in range(0, len(sentences), TOKENIZE_BATCH):
        flat, row_lengths = tokenize(tf.constant(sentences[start : start + TOKENIZE_BATCH]))
        ids.append(flat.numpy())
        lengths.append(row_lengths.numpy())
    lengths = np.concatenate(lengths)
    kept = lengths > 0
    document_of_sentence = np.repeat(np.arange(len(texts)), [len(document) for document in texts])
    sentences_per_document = np.bincount(document_of_sentence[kept], minlength=len(texts))
    return TokenizedDocuments(
        np.concatenate(ids),
        np.concatenate([[0], np.cumsum(lengths[kept])]),
        np.concatenate([[0], np.cumsum(sentences_per_document[sentences_per_document > 0])]),
    )


def _parts_of(files, sizes, part_bytes, input_format):
    """`(sources, bytes)`: the input in consecutive parts of about
    `part_bytes` each, files and, of a `"lines"` file larger than that,
    ranges between its documents."""
    part, part_size = [], 0
    for source, size in _sources(files, sizes, part_bytes, input_format):
        if part and part_size + size > part_bytes:
            yield part, part_size
            part, part_size = [], 0
        part.append(source)
        part_size += size
    yield part, part_size


def _sources(files, sizes, part_bytes, input_format):
    """`(source, bytes)` of each file, or of each of its ranges."""
    for path, size in zip(files, sizes):
        if size <= part_bytes or input_format != "lines":
            yield path, size
            continue
        for range_ in document_ranges(path, part_bytes):
            _, start, end = range_
            yield range_, (size if end is None else end) - start


def masking_options(tokenizer, masked_lm_prob, max_predictions_per_seq, whole_word_mask):
    special = tokenizer.special_tokens
    vocabulary = tokenizer.vocabulary
    not_replacement = re.compile(r"^\[(PAD|UNK|CLS|SEP|MASK|unused\d+)\]$")
    return instances_lib.MaskingOptions(
        cls_id=special["start_of_sequence_id"],
        sep_id=special["end_of_segment_id"],
        mask_id=special["mask_id"],
        is_continuation=tuple(piece.startswith("##") for piece in vocabulary),
        replacement_ids=tuple(
            i for i, piece in enumerate(vocabulary) if not not_replacement.match(piece)
        ),
        masked_lm_prob=masked_lm_prob,
        max_predictions_per_seq=max_predictions_per_seq,
        whole_word_mask=whole_word_mask,
    )


def _run_task(task):
    state = _WORKER_STATE
    dupe, start = task
    rng = instances_lib.task_rng(state["seed"], dupe, start)
    records, counts = [], {"instances": 0, "tokens": 0, "masked_tokens": 0, "random_next": 0}
    end = min(start + DOCUMENTS_PER_TASK, len(state["documents"]))
    for index in range(start, end):
        for instance in instances_lib.create_instances_from_document(
            state["documents"],
            index,
            state["max_seq_length"],
            state["short_seq_prob"],
            state["options"],
            rng,
            sop=state["sop"],
        ):
            features = instances_lib.instance_features(
                instance, state["max_seq_length"], state["max_predictions_per_seq"]
            )
            records.append(_tfrecord(_serialize(features)))
            counts["instances"] += 1
            counts["tokens"] += len(instance.tokens)
            counts["masked_tokens"] += len(instance.masked_lm_positions)
            counts["random_next"] += int(instance.is_random_next)
    # Through a file, not the pool's pipe: the parent receiving ~55 MB (BBC,
    # dupe 5) in 64 KB pipe reads took 0.4 s of CPU from the workers.
    path = os.path.join(state["parts_dir"], f"worker-{os.getpid()}")
    with open(path, "ab") as part_file:
        start = part_file.tell()
        part_file.write(b"".join(records))
    lengths = np.array([len(record) for record in records], dtype=np.int64)
    return {"path": path, "start": start, "lengths": lengths, "counts": counts}


def _shard_plans(parts, shard_paths, shuffle):
    """Each shard's path, the part files, and the place (file, offset,
    length) of each of its records: all the records dealt out in one
    shuffled order. Only places are held here; the records themselves would
    take about 1.35 times the shards' size."""
    part_paths = sorted({part["path"] for part in parts})
    places = np.concatenate(
        [
            np.stack(
                [
                    np.full_like(part["lengths"], part_paths.index(part["path"])),
                    part["start"] + np.cumsum(part["lengths"]) - part["lengths"],
                    part["lengths"],
                ],
                axis=1,
            )
            for part in parts
        ]
    )
    order = list(range(len(places)))
    shuffle(order)
    places = places[order]
    return [(path, part_paths, places[shard :: len(shard_paths)]) for shard, path in enumerate(shard_paths)]


def _write_shard(plan):
    """Copies a shard's records out of the part files, a batch at a time."""
    path, part_paths, places = plan
    with contextlib.ExitStack() as stack:
        maps = [stack.enter_context(_mapped(part_path)) for part_path in part_paths]
        with open(path, "wb") as shard_file:
            for begin in range(0, len(places), WRITE_BATCH):
                batch = places[begin : begin + WRITE_BATCH].tolist()
                shard_file.write(b"".join(maps[file][offset : offset + length] for file, offset, length in batch))


@contextlib.contextmanager
def _mapped(path):
    with open(path, "rb") as part_file:
        if os.fstat(part_file.fileno()).st_size == 0:  # mmap refuses empty files
            yield b""
            return
        with mmap.mmap(part_file.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            yield mapped


def _serialize(features):
    def feature(values):
        if isinstance(values[0], float):
            return tf.train.Feature(float_list=tf.train.FloatList(value=values))
        return tf.train.Feature(int64_list=tf.train.Int64List(value=values))

    example = tf.train.Example(
        features=tf.train.Features(feature={k: feature(v) for k, v in features.items()})
    )
    return example.SerializeToString(deterministic=True)


def _tfrecord(data):
    """`data` framed as one TFRecord (length, masked CRC-32C of the length,
    data, masked CRC-32C of the data). The workers frame their records, which
    they cannot pass to TensorFlow's writer (forked), so the parent writes
    each shard in one call (BBC: 0.19 -> 0.03-0.1 s of serial work)."""
    length = struct.pack("<Q", len(data))
    return b"".join((length, _masked_crc32c(length), data, _masked_crc32c(data)))


def _masked_crc32c(data):
    crc = google_crc32c.value(data)
    return struct.pack("<I", (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF)


class _InProcessPool:
    def map(self, function, items, chunksize=1):
        return map(function, items)


@contextlib.contextmanager
def _pool(num_workers):
    """Forked worker processes; they run plain Python (reading and splitting
    files, creating instances, writing shards), never a TensorFlow op. The
    instance workers are forked after the documents are in memory and
    inherit them.

    An executor, not a `multiprocessing.Pool`: the Pool's worker-handler
    thread wakes for every result waiting in its queue and spins until
    another thread has read it. Over BBC's 175 tasks that took 0.16-0.28 s
    of the parent's CPU, against 0.10-0.11 s, and on 2 cores it is taken from
    the workers (the bench's 2-over-1 ratio: 1.715-1.745 against
    1.682-1.733, three interleaved runs each)."""
    if num_workers <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        yield _InProcessPool()
        return
    # Frozen, the inherited objects are skipped by the workers' collections,
    # which would otherwise write to every page that holds one: on 38 MB of
    # text each worker copied up to 95 MB of this process, frozen 12-13 MB.
    gc.freeze()
    executor = concurrent.futures.ProcessPoolExecutor(
        num_workers, mp_context=multiprocessing.get_context("fork")
    )
    try:
        yield executor
    except concurrent.futures.process.BrokenProcessPool as error:
        raise RuntimeError(
            "a worker process died and nothing was written. If the system killed it for lack of "
            "memory, create the data in parts (one output directory and seed each) and read them "
            f"as one. ({error})"
        ) from error
    finally:
        executor.shutdown(cancel_futures=True)  # after an error, the tasks not started are dropped
        gc.unfreeze()
