import os
import subprocess
import sys

import pytest
import tensorflow as tf
import transformers

from conftest import read_documents
from kerasbert.text import WordPieceTokenizer, build_vocab, read_vocab, vocabulary
from kerasbert.text_files import document_ranges

PROGRAM = os.path.join(os.path.dirname(__file__), "..", "train", "build_vocab.py")


@pytest.fixture(scope="module")
def learned(tmp_path_factory, bbc_files):
    """A 30,522-entry vocabulary learned from 90% of the BBC articles."""
    path = str(tmp_path_factory.mktemp("vocab") / "vocab.txt")
    train = [f for i, f in enumerate(bbc_files) if i % 10]
    stats = build_vocab(train, 30522, output_file=path, show_progress=False)
    held_out = [f for i, f in enumerate(bbc_files) if i % 10 == 0]
    return path, stats, held_out


def test_bert_layout(learned):
    path, stats, _ = learned
    pieces = read_vocab(path)
    assert len(pieces) == stats["vocab_size"] == 30522
    assert pieces[0] == "[PAD]"
    assert pieces[1:100] == [f"[unused{i}]" for i in range(99)]
    assert pieces[100:104] == ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert sum(p.startswith("##") for p in pieces) > 1000
    assert "the" in pieces and not any(p != p.lower() for p in pieces[104:] if "[" not in p)
    assert stats["files"] == 2002 and stats["replaced_characters"] == 1  # sports/199.txt


def test_held_out_unknown_rate_below_one_percent(learned):
    path, _, held_out = learned
    documents = read_documents(held_out)
    hf = transformers.BertTokenizerFast(path)
    hf_ids = hf(documents, add_special_tokens=False)["input_ids"]
    ours = WordPieceTokenizer(path).tokenize(tf.constant(documents), flat=True).to_list()
    assert ours == hf_ids
    total = sum(map(len, ours))
    unknown = sum(ids.count(100) for ids in ours)
    assert total > 50_000 and unknown / total < 0.01


def test_command_line(tmp_path, bbc_files):
    output = tmp_path / "v.txt"
    pattern = bbc_files[0].rsplit("/", 1)[0] + "/00*.txt"
    done = subprocess.run(
        [sys.executable, PROGRAM, f"--input_files={pattern}",
         f"--output={output}", "--vocab_size=600", "--nolower_case"],
        capture_output=True, text=True, check=True,
    )
    assert '"vocab_size": 600' in done.stdout
    pieces = read_vocab(output)
    assert len(pieces) == 600 and any(p != p.lower() for p in pieces[104:])
    failed = subprocess.run(
        [sys.executable, PROGRAM, f"--input_files={tmp_path}/none*.txt"],
        capture_output=True, text=True,
    )
    assert failed.returncode == 1
    assert f"build_vocab: {tmp_path}/none*.txt: no file matches" in failed.stderr
    assert "Traceback" not in failed.stderr
    (tmp_path / "model.bin").write_bytes(bytes(range(256)) * 8)
    failed = subprocess.run(
        [sys.executable, PROGRAM, f"--input_files={tmp_path}/model.bin", f"--output={tmp_path}/binary.txt"],
        capture_output=True, text=True,
    )
    assert failed.returncode == 1 and "model.bin: looks like a binary file" in failed.stderr
    assert not (tmp_path / "binary.txt").exists()


def test_a_large_file_is_read_a_range_at_a_time(tmp_path, bbc_files, monkeypatch):
    # 40 articles in one "lines" file of ~90 kB, read in ranges of 2 kB:
    # the same lines and counts as read whole.
    path = tmp_path / "corpus.txt"
    path.write_text("\n\n".join(document.strip() for document in read_documents(bbc_files[:40])) + "\n")
    whole_stats = {"files": 0, "lines": 0, "replaced_characters": 0}
    whole = list(vocabulary.read_text_files([str(path)], whole_stats))
    monkeypatch.setattr(vocabulary, "READ_RANGE_BYTES", 2000)
    assert len(document_ranges(str(path), 2000)) > 20
    stats = {"files": 0, "lines": 0, "replaced_characters": 0}
    assert list(vocabulary.read_text_files([str(path)], stats)) == whole
    assert stats == whole_stats and stats["files"] == 1 and stats["lines"] > 150
