"""Classification files (CSV, TSV, JSON Lines) -> examples -> tf.data batches."""

import json

import numpy as np
import pytest
import tensorflow as tf

from kerasbert.data.classification_data import (
    classification_dataset,
    encode_labels,
    label_vocabulary,
    read_classification_file,
)
from kerasbert.text import BertPreprocessor, WordPieceTokenizer


@pytest.fixture(scope="module")
def preprocessor(minilm_vocab):
    return BertPreprocessor(WordPieceTokenizer(minilm_vocab), seq_length=16)


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))  # bytes: no newline translation
    return str(path)


def test_csv_with_quoted_commas_and_newlines(tmp_path):
    path = write(
        tmp_path,
        "train.csv",
        '\ufefftext,label\r\n"Hello, world",pos\r\n"two\nlines, ""quoted""",neg\r\n\r\nplain,pos\r\n',
    )
    data = read_classification_file(path)
    assert data.texts == ["Hello, world", 'two\nlines, "quoted"', "plain"]
    assert data.labels == ["pos", "neg", "pos"]
    assert data.texts_b is None and data.path == path
    assert data.lines == [2, 3, 6]  # where each example starts; line 5 is blank


def test_tsv_in_glue_layout(tmp_path):
    # SST-2: a header, tabs, and quotes that are text, not quoting.
    path = write(tmp_path, "dev.tsv", 'sentence\tlabel\na "quoted" film , \t1\nit \'s dull\t0\n')
    data = read_classification_file(path, text_field="sentence")
    assert data.texts == ['a "quoted" film , ', "it 's dull"]
    assert data.labels == ["1", "0"]
    # CoLA: no header, fields by column index.
    path = write(
        tmp_path,
        "cola.tsv",
        "gj04\t1\t\tOur friends won't buy this.\ngj04\t0\t*\tThey drank the pub.\n",
    )
    data = read_classification_file(path, text_field=3, label_field=1)
    assert data.texts == ["Our friends won't buy this.", "They drank the pub."]
    assert data.labels == ["1", "0"] and data.lines == [1, 2]


def test_jsonl_pairs(tmp_path):
    rows = [
        {"premise": "A man eats.", "hypothesis": "Someone eats.", "label": 0, "id": 7},
        {"premise": "A dog runs.", "hypothesis": "A cat sleeps.", "label": "2"},
    ]
    text = json.dumps(rows[0]) + "\n\n" + json.dumps(rows[1])  # a blank line, no final newline
    for name in ("mnli.jsonl", "mnli.json"):
        path = write(tmp_path, name, text)
        data = read_classification_file(path, "premise", "hypothesis")
        assert data.texts == ["A man eats.", "A dog runs."]
        assert data.texts_b == ["Someone eats.", "A cat sleeps."]
        assert data.labels == ["0", "2"] and data.lines == [1, 3]


def test_csv_pairs_and_unlabeled(tmp_path):
    path = write(tmp_path, "pairs.csv", "id,question,answer\n1,Why?,Because.\n2,How?,Slowly.\n")
    data = read_classification_file(path, "question", "answer", label_field=None)
    assert data.texts == ["Why?", "How?"] and data.texts_b == ["Because.", "Slowly."]
    assert data.labels is None


@pytest.mark.parametrize(
    "name, text, kwargs, message",
    [
        ("a.csv", "text,category\nhi,x\n", {}, r"line 1: no column 'label' .*'text', 'category'"),
        ("a.jsonl", '{"text": "a", "y": 1}\n', {}, r"line 1: no field 'label' .*'text', 'y'"),
        (
            "a.jsonl",
            '{"text": "a", "label": 1}\n\n{"text": "b", label: 2}\n',
            {},
            "line 3: not valid JSON",
        ),
        ("a.jsonl", '["a", 1]\n', {}, "line 1: a JSON list, expected one object per line"),
        ("a.jsonl", '{"text": ["a"], "label": 1}\n', {}, "line 1: field 'text' is"),
        ("a.csv", "text,label\na,1\nb,c,2\n", {}, "line 3: 3 fields where the header has 2"),
        ("a.tsv", "text\tlabel\na\t1\nb\n", {}, "line 3: 1 fields where the header has 2"),
        ("a.csv", 'text,label\n"open quote,1\n', {}, "line 2: unexpected end of data"),
        ("a.csv", "", {}, "no examples"),
        ("a.tsv", "text\tlabel\n", {}, "no examples"),
        ("a.csv", "text,label\na,1\n ,2\n", {}, "line 3: empty field 'text'"),
        ("a.tsv", "x\t1\n", {"text_field": 0, "label_field": 2}, "line 1: no column 2"),
        ("a.txt", "text,label\n", {}, "cannot tell the format"),
    ],
)
def test_errors_name_the_file_and_line(tmp_path, name, text, kwargs, message):
    path = write(tmp_path, name, text)
    with pytest.raises(ValueError, match=message) as error:
        read_classification_file(path, **kwargs)
    assert str(error.value).startswith(path)


def test_missing_file_and_skipped_empty_texts(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        read_classification_file(tmp_path / "nope.csv")
    path = write(tmp_path, "a.csv", "text,label\na,1\n ,2\nc,\nd,3\n")
    data = read_classification_file(path, skip_empty=True)
    assert data.texts == ["a", "d"] and data.skipped == 2 and data.lines == [2, 5]


def test_labels(tmp_path):
    assert label_vocabulary(["b", "a", "b", "c"]) == ["a", "b", "c"]
    assert label_vocabulary(["10", "2", "1", "2"]) == ["1", "2", "10"]  # numbers, not strings
    train = read_classification_file(write(tmp_path, "t.csv", "text,label\na,pos\nb,neg\n"))
    names = label_vocabulary(train.labels)
    assert encode_labels(train, names).tolist() == [1, 0]
    assert encode_labels(train, names).dtype == np.int32
    path = write(tmp_path, "eval.csv", "text,label\nc,neg\nd,neutral\n")
    with pytest.raises(
        ValueError, match=r"line 3: unknown label 'neutral' \(the 2 known labels: 'neg', 'pos'\)"
    ) as error:
        encode_labels(read_classification_file(path), names)
    assert str(error.value).startswith(path)


def test_dataset_matches_the_preprocessor(tmp_path, preprocessor):
    texts = ["The cat sat.", "A kerasbertization of sentences, with commas.", "Short"]
    texts_b = ["It was happy.", "Second segment here.", "x"]
    rows = [
        {"a": a, "b": b, "label": label} for a, b, label in zip(texts, texts_b, ["y", "n", "y"])
    ]
    path = write(tmp_path, "pairs.jsonl", "\n".join(map(json.dumps, rows)))
    # (Each dataset traces the tokenizer, seconds on a busy machine: two only.)

    # Pairs, shuffled: the labels must follow their texts.
    data = read_classification_file(path, "a", "b")
    dataset = classification_dataset(
        data, preprocessor, ["n", "y"], batch_size=2, shuffle=True, seed=1
    )
    batches = list(dataset.as_numpy_iterator())
    assert [len(labels) for _, labels in batches] == [2, 1]
    # A list of strings would be taken for segments: the texts go as tensors.
    expected = preprocessor([tf.constant(texts), tf.constant(texts_b)])
    expected = {key: value.numpy() for key, value in expected.items()}
    ids = np.concatenate([features["input_word_ids"] for features, _ in batches])
    order = [
        next(i for i in range(3) if (expected["input_word_ids"][i] == row).all()) for row in ids
    ]
    assert sorted(order) == [0, 1, 2]
    for key, value in expected.items():
        np.testing.assert_array_equal(np.concatenate([f[key] for f, _ in batches]), value[order])
    assert np.concatenate([labels for _, labels in batches]).tolist() == [
        [1, 0, 1][i] for i in order
    ]

    # One segment, no labels: batches of features, in file order.
    data = read_classification_file(path, "a", label_field=None)
    batches = list(classification_dataset(data, preprocessor, batch_size=2).as_numpy_iterator())
    expected = preprocessor(tf.constant(texts))
    for key, value in expected.items():
        np.testing.assert_array_equal(np.concatenate([f[key] for f in batches]), value.numpy())
