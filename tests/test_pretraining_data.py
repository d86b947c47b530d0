"""Pretraining data: the statistics of google-research/bert's algorithm."""

import gc
import hashlib
import importlib
import json
import multiprocessing
import os
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest
import tensorflow as tf

from kerasbert.data import DynamicMasking, create_pretraining_data, masking_options, pretraining_dataset
from kerasbert.data.bbc import prepare_bbc_pretraining
from kerasbert.data.text_corpus import read_documents
from kerasbert.data.tokenized_documents import TokenizedDocuments
from kerasbert.text import WordPieceTokenizer
from kerasbert.text_files import document_ranges

CLS, SEP, MASK = 101, 102, 103
ROOT = os.path.join(os.path.dirname(__file__), "..")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return prepare_bbc_pretraining(str(tmp_path_factory.mktemp("bbc")))


def make_data(corpus, vocab, output_dir, **kwargs):
    options = dict(dupe_factor=1, num_shards=2, show_progress=False)
    options.update(kwargs)
    return create_pretraining_data(corpus["pretrain"][0], vocab, str(output_dir), **options)


def read_all(directory, max_predictions=20):
    dataset = pretraining_dataset(str(directory), 1024, 128, max_predictions, is_training=False)
    batches = list(dataset.as_numpy_iterator())
    return {k: np.concatenate([b[k] for b in batches]) for k in batches[0]}


@pytest.fixture(scope="module")
def static_data(corpus, minilm_vocab, tmp_path_factory):
    directory = tmp_path_factory.mktemp("data") / "static"
    stats = make_data(corpus, minilm_vocab, directory)
    return directory, stats, read_all(directory)


def test_masking_statistics(static_data):
    _, stats, data = static_data
    instances = len(data["input_word_ids"])
    assert instances >= 10_000 and instances == stats["instances"]
    weights = data["masked_lm_weights"] > 0
    eligible = data["input_mask"].sum() - 3 * instances
    assert abs(weights.sum() / eligible - 0.15) < 0.01
    positions = data["masked_lm_positions"]
    labels = data["masked_lm_ids"][weights]
    shown = np.take_along_axis(data["input_word_ids"], positions, axis=1)[weights]
    masked, kept = np.mean(shown == MASK), np.mean(shown == labels)
    assert abs(masked - 0.8) < 0.02 and abs(kept - 0.1) < 0.02
    assert abs((1 - masked - kept) - 0.1) < 0.02
    assert not np.isin(labels, [CLS, SEP, 0]).any()  # [CLS], [SEP], padding never predicted
    assert abs(data["next_sentence_labels"].mean() - 0.5) < 0.03


def test_instance_layout(static_data):
    _, _, data = static_data
    ids, mask, types = data["input_word_ids"], data["input_mask"], data["input_type_ids"]
    assert ids.shape[1] == 128 and (mask.sum(1) <= 128).all()
    assert (ids[:, 0] == CLS).all()
    lengths = mask.sum(1)
    for row in range(0, len(ids), 97):
        n = lengths[row]
        seps = np.flatnonzero(ids[row, :n] == SEP)
        original = ids[row].copy()
        chosen = data["masked_lm_weights"][row] > 0
        original[data["masked_lm_positions"][row][chosen]] = data["masked_lm_ids"][row][chosen]
        seps = np.flatnonzero(original[:n] == SEP)
        assert len(seps) == 2 and seps[1] == n - 1
        assert (types[row, : seps[0] + 1] == 0).all() and (types[row, seps[0] + 1 : n] == 1).all()
        assert (ids[row, n:] == 0).all() and (mask[row, n:] == 0).all()


def test_whole_word_masking(corpus, minilm_vocab, tmp_path):
    make_data(corpus, minilm_vocab, tmp_path / "wwm", whole_word_mask=True, dupe_factor=1)
    data = read_all(tmp_path / "wwm")
    vocabulary = WordPieceTokenizer(minilm_vocab).vocabulary
    continuation = np.array([p.startswith("##") for p in vocabulary])
    checked = 0
    for row in range(0, len(data["input_word_ids"]), 13):
        chosen = data["masked_lm_weights"][row] > 0
        original = data["input_word_ids"][row].copy()
        original[data["masked_lm_positions"][row][chosen]] = data["masked_lm_ids"][row][chosen]
        positions = set(data["masked_lm_positions"][row][chosen])
        for p in positions:
            # every piece of the word around p is predicted too (a "##" piece
            # right after [SEP], left by truncation, has no word start)
            start = p
            while continuation[original[start]] and original[start - 1] not in (CLS, SEP):
                start -= 1
            end = p + 1
            while end < len(original) and continuation[original[end]]:
                end += 1
            assert set(range(start, end)) <= positions
            checked += end - start > 1
    assert checked > 100  # multi-piece words were masked whole


def test_same_seed_same_bytes(corpus, minilm_vocab, tmp_path, static_data, monkeypatch, capsys):
    directory, _, _ = static_data
    # Again, in one process (with the progress bars: the input's megabytes
    # read, then the tasks); with the sentences split by forked readers (this
    # corpus is small enough to be read in process by default); and with its
    # one file of 4.5 MB read and tokenized in ranges of 300 kB, one at a
    # time, as a file larger than READ_PART_BYTES is.
    make_data(corpus, minilm_vocab, tmp_path / "again", num_workers=1, show_progress=True)
    progress = capsys.readouterr().out
    assert "4/4" in progress and "ms/MB" in progress and "documents: 2002" in progress
    assert "ms/task" in progress and "instances: " in progress
    module = importlib.import_module("kerasbert.data.create_pretraining_data")
    with monkeypatch.context() as patch:
        patch.setattr(module, "PARALLEL_READ_BYTES", 0)
        make_data(corpus, minilm_vocab, tmp_path / "forked_readers", num_workers=2)
        patch.setattr(module, "READ_PART_BYTES", 300_000)
        assert len(document_ranges(corpus["pretrain"][0], 300_000)) > 10
        make_data(corpus, minilm_vocab, tmp_path / "in_ranges", num_workers=2)
    make_data(corpus, minilm_vocab, tmp_path / "other", random_seed=1)
    same = [tmp_path / "again", tmp_path / "forked_readers", tmp_path / "in_ranges"]
    # The shards and the metadata, nothing else: the workers' part files are gone.
    for output in [directory, *same]:
        assert sorted(os.listdir(output)) == ["metadata.json"] + [f"train-{i:05d}-of-00002.tfrecord" for i in range(2)]
    for name in sorted(os.listdir(directory)):
        if name.endswith(".tfrecord"):
            expected = (directory / name).read_bytes()
            for output in same:
                assert expected == (output / name).read_bytes(), output
            assert expected != (tmp_path / "other" / name).read_bytes()
    # The timings are returned, not written: the metadata (with the
    # statistics: one file, every sentence) does not vary either.
    metadata = (directory / "metadata.json").read_bytes()
    assert json.loads(metadata)["stats"]["files"] == 1
    for output in same:
        assert metadata == (output / "metadata.json").read_bytes(), output


def test_statistics_time_the_instance_phase(static_data):
    _, stats, _ = static_data
    assert 0 < stats["instance_seconds"] < stats["seconds"]


def test_tokenized_documents_are_flat_arrays_read_as_sentences_of_ids(minilm_vocab, bbc_files):
    # What keeps a tokenized corpus small in memory (4 bytes a token) and
    # the forked workers' pages clean; empty sentences and documents dropped.
    module = importlib.import_module("kerasbert.data.create_pretraining_data")
    texts, _ = read_documents(bbc_files[:50], "paragraphs", "en")
    texts = [[], *texts[:20], ["", " "], [texts[20][0], "", *texts[20][1:]], *texts[21:]]
    tokenizer = WordPieceTokenizer(minilm_vocab)
    documents = module.tokenize_documents(texts, tokenizer)
    expected = [
        [sentence for sentence in tokenizer.tokenize(tf.constant(document), flat=True).to_list() if sentence]
        for document in texts
        if document
    ]
    expected = [document for document in expected if document]
    assert len(documents) == len(expected) == 50
    assert [[list(sentence) for sentence in documents[i]] for i in range(len(documents))] == expected
    tokens = sum(len(sentence) for document in expected for sentence in document)
    assert documents.ids.dtype == np.int32 and documents.ids.nbytes == 4 * tokens > 80_000


def test_tokenized_documents_read_in_their_order():
    documents = TokenizedDocuments(np.array([7, 8, 9, 4, 5], np.int32), np.array([0, 2, 3, 5]), np.array([0, 2, 3]))
    documents.order.reverse()
    assert [[list(sentence) for sentence in document] for document in documents] == [[[4, 5]], [[7, 8], [9]]]
    assert len(documents) == 2 and [type(token) for token in documents[1][0]] == [int, int]
    with pytest.raises(IndexError):
        documents[2]
    joined = TokenizedDocuments.concatenate([documents, documents])
    assert [[list(sentence) for sentence in document] for document in joined] == 2 * [[[4, 5]], [[7, 8], [9]]]
    assert joined.order == [1, 0, 3, 2] and {type(index) for index in joined.order} == {int}


def test_the_output_is_that_of_the_recorded_algorithm(minilm_vocab, bbc_files, tmp_path, monkeypatch):
    # The SHA-256 of the shards as the code of 5d1f8f1 wrote them (40 BBC
    # articles, seed 12345), so that a change meant to be only faster or
    # leaner is caught when it changes the data. Update the digests only for
    # a change to the algorithm itself, and say so in its commit.
    runs = {
        "41923d7081a4d2e8677252b517caff29871a1c088b1d47b65d9899a9c164b677": dict(dupe_factor=1),
        "a4ae5590096ee864cf0a0e8367234fddac21c8f76ba33edd0c12b90bc1d387bf": dict(
            dupe_factor=2, whole_word_mask=True, sop=True
        ),
    }
    module = importlib.import_module("kerasbert.data.create_pretraining_data")
    default_part_bytes = module.READ_PART_BYTES
    for i, (digest, options) in enumerate(runs.items()):
        # The second time the files are read and tokenized in parts of ~5 files.
        for read_part_bytes in (default_part_bytes, 10_000):
            monkeypatch.setattr(module, "READ_PART_BYTES", read_part_bytes)
            output = tmp_path / f"{i}-{read_part_bytes}"
            create_pretraining_data(
                bbc_files[:40], minilm_vocab, str(output), input_format="paragraphs", num_shards=2,
                show_progress=False, **options,
            )
            shards = b"".join(path.read_bytes() for path in sorted(output.glob("*.tfrecord")))
            assert hashlib.sha256(shards).hexdigest() == digest, (options, read_part_bytes)


def _private_memory_after_a_full_collection(_):
    def private_dirty_kb():
        with open("/proc/self/smaps_rollup") as smaps:
            return next(int(line.split()[1]) for line in smaps if line.startswith("Private_Dirty:"))

    before = private_dirty_kb()
    gc.collect()
    return private_dirty_kb() - before


@pytest.mark.skipif(not os.path.exists("/proc/self/smaps_rollup"), reason="Linux's /proc only")
def test_a_forked_workers_garbage_collection_leaves_the_inherited_pages_shared():
    # Without gc.freeze() a worker's full collection writes to every page
    # of this process's Python objects (TensorFlow's among them), copying them.
    module = importlib.import_module("kerasbert.data.create_pretraining_data")
    with module._pool(2) as pool:
        copied_kb = list(pool.map(_private_memory_after_a_full_collection, range(2)))
    assert max(copied_kb) < 10 << 10, copied_kb
    assert gc.get_freeze_count() == 0  # unfrozen again here


def test_the_records_are_not_held_in_memory_while_the_shards_are_written(minilm_vocab, bbc_files, tmp_path):
    # The shards are copied out of the workers' part files, so a run needs
    # memory for the tokenized corpus, not for the output too (here twice its
    # size). In process, where every Python allocation is traced.
    tracemalloc.start()
    try:
        create_pretraining_data(
            bbc_files[:200], minilm_vocab, str(tmp_path / "out"), input_format="paragraphs",
            dupe_factor=20, num_workers=1, show_progress=False,
        )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    output = sum(path.stat().st_size for path in (tmp_path / "out").glob("*.tfrecord"))
    assert output > 10 << 20 and peak < output, (peak, output)


def test_a_corpus_made_in_parts_is_read_as_one(corpus, minilm_vocab, tmp_path):
    # The README's advice for a corpus too large for one run's memory: make
    # it in parts, then give the reader every part's shards.
    text = open(corpus["pretrain"][0]).read()
    middle = text.index("\n\n", len(text) // 2) + 2
    instances = 0
    for i, part in enumerate((text[:middle], text[middle:])):
        (tmp_path / f"part{i}.txt").write_text(part)
        part_corpus = {"pretrain": [str(tmp_path / f"part{i}.txt")]}
        instances += make_data(part_corpus, minilm_vocab, tmp_path / f"data{i}", random_seed=i)["instances"]
    data = read_all(f"{tmp_path}/data0/*.tfrecord,{tmp_path}/data1/*.tfrecord")
    assert len(data["input_word_ids"]) == instances > 10_000


def test_shards_are_the_bytes_tensorflow_writes(static_data, tmp_path):
    """The workers frame records themselves; a shard re-written record by
    record with tf.io.TFRecordWriter is the same file."""
    directory, _, _ = static_data
    shard = sorted(directory.glob("*.tfrecord"))[0]
    records = [r.numpy() for r in tf.data.TFRecordDataset(str(shard))]
    assert len(records) > 100
    with tf.io.TFRecordWriter(str(tmp_path / "tf.tfrecord")) as writer:
        for record in records:
            writer.write(record)
    assert (tmp_path / "tf.tfrecord").read_bytes() == shard.read_bytes()


def test_sop_labels_and_balance(corpus, minilm_vocab, tmp_path):
    stats = make_data(corpus, minilm_vocab, tmp_path / "sop", sop=True)
    assert abs(stats["random_next"] / stats["instances"] - 0.5) < 0.03
    metadata = json.loads((tmp_path / "sop" / "metadata.json").read_text())
    assert metadata["sop"] is True


def test_reader_accepts_original_feature_names(tmp_path):
    path = str(tmp_path / "original.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
        for i in range(3):
            feature = {
                "input_ids": [101, 7, 8, 102, 9, 102] + [0] * 2,
                "input_mask": [1] * 6 + [0] * 2,
                "segment_ids": [0, 0, 0, 0, 1, 1, 0, 0],
                "masked_lm_positions": [1, 0],
                "masked_lm_ids": [i + 5, 0],
                "next_sentence_labels": [i % 2],
            }
            example = {k: tf.train.Feature(int64_list=tf.train.Int64List(value=v)) for k, v in feature.items()}
            example["masked_lm_weights"] = tf.train.Feature(float_list=tf.train.FloatList(value=[1.0, 0.0]))
            writer.write(tf.train.Example(features=tf.train.Features(feature=example)).SerializeToString())
    batch = next(iter(pretraining_dataset(path, 3, 8, 2, is_training=False)))
    assert batch["input_word_ids"].dtype == tf.int32
    assert batch["input_type_ids"].numpy()[0].tolist() == [0, 0, 0, 0, 1, 1, 0, 0]
    assert batch["masked_lm_ids"].numpy()[:, 0].tolist() == [5, 6, 7]


def test_sharding_between_input_pipelines(static_data):
    directory, _, data = static_data
    seen = []
    for pipeline in range(2):
        context = tf.distribute.InputContext(2, pipeline, 1)
        dataset = pretraining_dataset(str(directory), 512, is_training=False, input_context=context)
        seen.append(np.concatenate([b["input_word_ids"] for b in dataset.as_numpy_iterator()]))
    assert abs(len(seen[0]) - len(seen[1])) < 0.1 * len(seen[0])
    # the two pipelines split the records between them: nothing lost or repeated
    assert sorted(map(bytes, np.concatenate(seen))) == sorted(map(bytes, data["input_word_ids"]))


def test_dynamic_masking_draws_new_masks(static_data, minilm_vocab):
    directory, _, _ = static_data
    options = masking_options(WordPieceTokenizer(minilm_vocab), 0.15, 20, False)
    dataset = pretraining_dataset(str(directory), 256, is_training=False).take(8)
    static = list(dataset.as_numpy_iterator())
    # as in training: the masking map runs after repeat, so each epoch differs
    epochs = list(dataset.repeat(2).map(DynamicMasking(options)).as_numpy_iterator())
    dynamic = [epochs[:8], epochs[8:]]
    for s, a, b in zip(static, *dynamic):
        np.testing.assert_array_equal(_restore(s), _restore(a))  # same text underneath
        np.testing.assert_array_equal(_restore(a), _restore(b))
        assert not np.array_equal(a["masked_lm_positions"], b["masked_lm_positions"])
    data = {k: np.concatenate([b[k] for b in dynamic[0]]) for k in dynamic[0][0]}
    weights = data["masked_lm_weights"] > 0
    eligible = data["input_mask"].sum() - 3 * len(weights)
    assert abs(weights.sum() / eligible - 0.15) < 0.01
    shown = np.take_along_axis(data["input_word_ids"], data["masked_lm_positions"], 1)[weights]
    assert abs(np.mean(shown == MASK) - 0.8) < 0.03
    assert not np.isin(data["masked_lm_ids"][weights], [CLS, SEP, 0]).any()


def _restore(batch):
    ids = batch["input_word_ids"].copy()
    for row in range(len(ids)):
        chosen = batch["masked_lm_weights"][row] > 0
        ids[row, batch["masked_lm_positions"][row][chosen]] = batch["masked_lm_ids"][row][chosen]
    return ids


def run_program(*args):
    return subprocess.run(
        [sys.executable, os.path.join(ROOT, "train", "create_pretraining_data.py"), *args],
        capture_output=True, text=True,
    )


def test_bad_input_is_named(tmp_path, minilm_vocab):
    common = [f"--vocab_file={minilm_vocab}", f"--output_dir={tmp_path / 'out'}"]
    done = run_program(f"--input_files={tmp_path}/missing.txt", *common)
    assert done.returncode == 1 and "missing.txt: no file matches" in done.stderr
    (tmp_path / "empty.txt").write_text("\n\n  \n")
    done = run_program(f"--input_files={tmp_path}/empty.txt", *common)
    assert done.returncode == 1 and "no text in the input files" in done.stderr
    (tmp_path / "model.bin").write_bytes(bytes(range(256)) * 8)
    done = run_program(f"--input_files={tmp_path}/model.bin", *common)
    assert done.returncode == 1 and "model.bin: looks like a binary file" in done.stderr
    assert not (tmp_path / "out").exists()


def test_an_error_in_a_forked_reader_names_the_file_and_writes_nothing(minilm_vocab, bbc_files, tmp_path, monkeypatch):
    binary = tmp_path / "model.bin"
    binary.write_bytes(bytes(range(256)) * 8)
    files = [*bbc_files[:40], str(binary)]
    module = importlib.import_module("kerasbert.data.create_pretraining_data")
    monkeypatch.setattr(module, "PARALLEL_READ_BYTES", 0)
    monkeypatch.setattr(module, "FILES_PER_TASK", 1)  # the error comes from a worker, mid-run
    with pytest.raises(ValueError, match="model.bin: looks like a binary file"):
        create_pretraining_data(
            files, minilm_vocab, str(tmp_path / "out"), input_format="paragraphs", num_workers=2, show_progress=False
        )
    assert sorted(os.listdir(tmp_path)) == ["model.bin"]
    assert not multiprocessing.active_children()  # the workers are gone


def test_a_worker_killed_mid_run_stops_it_with_a_clear_error(minilm_vocab, tmp_path):
    # As the kernel's OOM killer would: SIGKILL to one worker at its third
    # task. In a child process, so that a hang (a multiprocessing.Pool
    # waits forever for a dead worker's result) fails the test.
    script = f"""
import importlib, os, signal
from kerasbert.data import create_pretraining_data
from kerasbert.data.bbc import bbc_files
module = importlib.import_module("kerasbert.data.create_pretraining_data")
run_task = module._run_task
def run_or_die(task):
    if task == (0, 128):
        os.kill(os.getpid(), signal.SIGKILL)
    return run_task(task)
module._run_task = run_or_die
create_pretraining_data(bbc_files()[:300], {minilm_vocab!r}, {str(tmp_path / "out")!r},
                        input_format="paragraphs", dupe_factor=1, num_workers=2, show_progress=False)
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert "RuntimeError: a worker process died" in done.stderr and "create the data in parts" in done.stderr
    assert os.listdir(tmp_path) == []  # no output, no temporary directory


def test_existing_output_is_refused(static_data, corpus, minilm_vocab):
    directory, _, _ = static_data
    with pytest.raises(FileExistsError, match="already exists"):
        make_data(corpus, minilm_vocab, directory)


def test_reader_names_mismatched_lengths(static_data, tmp_path):
    directory, _, _ = static_data
    with pytest.raises(ValueError, match="max_predictions_per_seq=20, not 10"):
        pretraining_dataset(str(directory), 8, 128, 10)
    shard = sorted(p for p in os.listdir(directory) if p.endswith(".tfrecord"))[0]
    (tmp_path / shard).write_bytes((directory / shard).read_bytes())  # without metadata.json
    with pytest.raises(ValueError, match=f"{shard}: input_word_ids has length 128, but max_seq_length=64"):
        pretraining_dataset(str(tmp_path / shard), 8, 64, 20)


def test_data_on_tensorflows_filesystems(static_data, corpus, minilm_vocab):
    # As on a TPU, where the data sits in gs://: here TensorFlow's in-memory
    # filesystem (ram://) stands in for it. The data is written there (the
    # same bytes as on a local disk) and read back: a directory and a glob,
    # and the metadata check, through tf.io.gfile.
    directory, _, data = static_data
    remote = "ram://bucket/static"
    make_data(corpus, minilm_vocab, remote)
    try:
        assert sorted(tf.io.gfile.listdir(remote)) == sorted(os.listdir(directory))
        for name in os.listdir(directory):
            assert tf.io.gfile.GFile(f"{remote}/{name}", "rb").read() == (directory / name).read_bytes(), name
        with pytest.raises(FileExistsError, match="ram://bucket/static already exists"):
            make_data(corpus, minilm_vocab, remote)
        for source in (remote, f"{remote}/*.tfrecord"):
            assert np.array_equal(read_all(source)["masked_lm_ids"], data["masked_lm_ids"]), source
        with pytest.raises(ValueError, match=f"{remote}/metadata.json: the data has max_predictions_per_seq=20, not 10"):
            pretraining_dataset(remote, 8, 128, 10)
        with pytest.raises(FileNotFoundError, match="ram://bucket/none/\\*.tfrecord: no file matches"):
            pretraining_dataset("ram://bucket/none/*.tfrecord", 8, 128, 20)
    finally:
        tf.io.gfile.rmtree(remote)
