"""Text classification files (CSV, TSV, JSON Lines) -> examples -> batches.

Three layouts are read, the format taken from the file extension unless
given:

- `.csv`: comma separated, a header row naming the fields; quoted fields may
  hold commas, quotes (`""`) and newlines.
- `.tsv`: the GLUE layout: tab separated, a header row, no quoting (a `"` is
  text, as in SST-2 sentences).
- `.jsonl` / `.json`: one JSON object per line.

Fields are chosen by name. For header-less CSV/TSV files (GLUE's CoLA) give
them as column indexes instead. Errors name the file and the line.
"""

import collections
import contextlib
import csv
import dataclasses
import io
import json
import logging
import os
import re

import numpy as np
import tensorflow as tf

from kerasbert.text_files import decode_text_file

EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "jsonl"}
FORMATS = ("csv", "tsv", "jsonl")
# Labels listed in error messages (a task may have hundreds).
MAX_LISTED_LABELS = 20


@dataclasses.dataclass
class ClassificationData:
    """The examples of one file.

    Attributes:
        texts: the first text of each example.
        texts_b: the second texts for sentence pairs, or None.
        labels: label strings, or None when read with `label_field=None`.
        path: the file read.
        lines: the line where each example starts, for error messages.
        skipped: examples skipped for an empty field (`skip_empty=True`).
    """

    texts: list
    texts_b: list | None
    labels: list | None
    path: str
    lines: list = dataclasses.field(default_factory=list)
    skipped: int = 0

    def __len__(self):
        return len(self.texts)


def read_classification_file(
    path,
    text_field="text",
    text_b_field=None,
    label_field="label",
    file_format=None,
    skip_empty=False,
):
    """Reads a CSV, TSV or JSON Lines file of classification examples.

    Args:
        path: the file.
        text_field: name of the text field (or column index, header-less
            CSV/TSV only).
        text_b_field: name or index of the second text for sentence-pair
            tasks, or None.
        label_field: name or index of the label, or None for unlabeled files
            (prediction). Labels are kept as strings, stripped of spaces;
            JSON integers are converted with `str`.
        file_format: `"csv"`, `"tsv"` or `"jsonl"`; None: from the extension.
        skip_empty: skip (and count in `skipped`) examples with an empty
            text or label instead of raising.

    Returns:
        A `ClassificationData`.

    Raises:
        FileNotFoundError: no such file.
        ValueError: unknown format, no examples, a missing field, a malformed
            line, or an empty field (unless `skip_empty`).
    """
    path = os.fspath(path)
    if file_format is None:
        extension = os.path.splitext(path)[1].lower()
        if extension not in EXTENSIONS:
            raise ValueError(
                f"{path}: cannot tell the format from the extension {extension!r}; "
                f"use one of {sorted(EXTENSIONS)} or pass file_format={FORMATS}"
            )
        file_format = EXTENSIONS[extension]
    if file_format not in FORMATS:
        raise ValueError(f"{path}: file_format={file_format!r} is not one of {FORMATS}")
    fields = {"text": text_field, "text_b": text_b_field, "label": label_field}
    fields = {key: name for key, name in fields.items() if name is not None}

    # Excel writes a byte-order mark, which would stick to the first column name.
    text = decode_text_file(path, collections.Counter()).removeprefix("\ufeff")
    if file_format == "jsonl":
        rows = _jsonl_rows(path, text, fields)
    else:
        rows = _delimited_rows(path, text, fields, file_format)

    data = ClassificationData(
        texts=[],
        texts_b=[] if text_b_field is not None else None,
        labels=[] if label_field is not None else None,
        path=path,
    )
    for line, row in rows:
        empty = [fields[key] for key, value in row.items() if not value.strip()]
        if empty:
            if not skip_empty:
                raise ValueError(
                    f"{path}: line {line}: empty field {empty[0]!r} "
                    "(pass skip_empty=True to skip and count such examples)"
                )
            data.skipped += 1
            continue
        data.lines.append(line)
        data.texts.append(row["text"])
        if data.texts_b is not None:
            data.texts_b.append(row["text_b"])
        if data.labels is not None:
            data.labels.append(row["label"].strip())  # " pos" in "text, pos" is "pos"
    if not data.texts:
        skipped = f" ({data.skipped} skipped for an empty field)" if data.skipped else ""
        raise ValueError(f"{path}: no examples{skipped}")
    if data.skipped:
        logging.warning("%s: %d examples with an empty field skipped", path, data.skipped)
    return data


def _delimited_rows(path, text, fields, file_format):
    """`(line, {key: value})` for each data row of a CSV or TSV text."""
    by_index = all(isinstance(name, int) for name in fields.values())
    if not by_index and any(isinstance(name, int) for name in fields.values()):
        raise ValueError(f"{path}: give the fields all as names or all as column indexes")
    if file_format == "csv":
        # strict: an unclosed quote is an error, not a field running to the end.
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        hint = "a comma in an unquoted field?"
    else:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE)
        hint = "a tab inside a text?"

    rows, columns, expected, line = [], None, None, 0
    with _large_fields():
        while True:
            start = line + 1
            try:
                row = next(reader, None)
            except csv.Error as e:
                raise ValueError(f"{path}: line {start}: {e}") from None
            line = reader.line_num
            if row is None:
                return rows
            if not row or (len(row) == 1 and not row[0].strip()):  # a blank line
                continue
            if expected is None and not by_index:
                columns = _header_columns(path, start, row, fields)
                expected = (len(row), "the header")
                continue
            if expected is None:  # the first row of a header-less file
                columns = _index_columns(path, start, row, fields)
                expected = (len(row), f"line {start}")
            if len(row) != expected[0]:
                raise ValueError(
                    f"{path}: line {start}: {len(row)} fields where {expected[1]} has "
                    f"{expected[0]} ({hint})"
                )
            rows.append((start, {key: row[i] for key, i in columns.items()}))


def _header_columns(path, line, header, fields):
    position = {name: i for i, name in reversed(list(enumerate(header)))}
    for name in fields.values():
        if name not in position:
            raise ValueError(
                f"{path}: line {line}: no column {name!r} in the header "
                f"(columns: {', '.join(map(repr, header))})"
            )
    return {key: position[name] for key, name in fields.items()}


def _index_columns(path, line, row, fields):
    for index in fields.values():
        if not -len(row) <= index < len(row):
            raise ValueError(f"{path}: line {line}: no column {index}, the row has {len(row)}")
    return dict(fields)


@contextlib.contextmanager
def _large_fields():
    # The csv module refuses fields over 128 KiB; a document classifier's
    # texts can be longer. The limit is global state, so it is put back.
    previous = csv.field_size_limit(2**31 - 1)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def _jsonl_rows(path, text, fields):
    """`(line, {key: value})` for each object of a JSON Lines text."""
    if any(isinstance(name, int) for name in fields.values()):
        raise ValueError(f"{path}: JSON fields are names, not column indexes")
    rows = []
    # Not splitlines(): JSON strings may hold U+2028 and other line breaks raw.
    for line, source in enumerate(text.split("\n"), 1):
        if not source.strip():
            continue
        try:
            record = json.loads(source)
        except json.JSONDecodeError as e:
            raise ValueError(
                f"{path}: line {line}: not valid JSON ({e.msg}, column {e.colno})"
            ) from None
        if not isinstance(record, dict):
            raise ValueError(
                f"{path}: line {line}: a JSON {type(record).__name__}, expected one "
                "object per line (JSON Lines)"
            )
        row = {}
        for key, name in fields.items():
            if name not in record:
                raise ValueError(
                    f"{path}: line {line}: no field {name!r} "
                    f"(fields: {', '.join(map(repr, record))})"
                )
            value = record[name]
            if key == "label" and isinstance(value, int) and not isinstance(value, bool):
                value = str(value)
            if not isinstance(value, str):
                kind = "a string or an integer" if key == "label" else "a string"
                raise ValueError(f"{path}: line {line}: field {name!r} is {value!r}, not {kind}")
            row[key] = value
        rows.append((line, row))
    return rows


def label_vocabulary(labels):
    """The distinct labels, sorted: numerically when all are integers (so
    `"2"` comes before `"10"`), else as strings. A label's id is its index."""
    names = set(labels)
    if all(re.fullmatch(r"-?\d+", name) for name in names):
        return sorted(names, key=int)
    return sorted(names)


def encode_labels(data, label_names):
    """Label ids (int32 `[examples]`) of `data` in `label_names` order.

    Raises:
        ValueError: `data` has no labels, or a label is not in
            `label_names` (say, an evaluation label never seen in training).
    """
    if data.labels is None:
        raise ValueError(f"{data.path}: read without labels (label_field=None)")
    index = {name: i for i, name in enumerate(label_names)}
    ids = np.empty(len(data.labels), np.int32)
    for i, label in enumerate(data.labels):
        if label not in index:
            known = ", ".join(map(repr, label_names[:MAX_LISTED_LABELS]))
            more = ", ..." if len(label_names) > MAX_LISTED_LABELS else ""
            raise ValueError(
                f"{data.path}: line {data.lines[i]}: unknown label {label!r} "
                f"(the {len(label_names)} known labels: {known}{more})"
            )
        ids[i] = index[label]
    return ids


def classification_dataset(
    data, preprocessor, label_names=None, batch_size=32, shuffle=False, seed=0
):
    """A `tf.data.Dataset` of `(features, label_ids)` batches, tokenized in
    the graph by `preprocessor` (a `kerasbert.text.BertPreprocessor`).

    Args:
        data: a `ClassificationData`; pairs when it has `texts_b`.
        preprocessor: packs strings into `input_word_ids`, `input_mask`,
            `input_type_ids` int32 `[batch, seq_length]`.
        label_names: the training label vocabulary (`label_vocabulary`);
            None, or `data` without labels: batches of features only.
        batch_size: examples per batch (the last batch may be smaller).
        shuffle: shuffle all examples, afresh each epoch.
        seed: the shuffle seed.
    """
    texts = (data.texts,) if data.texts_b is None else (data.texts, data.texts_b)
    labeled = label_names is not None and data.labels is not None
    elements = (texts, encode_labels(data, label_names)) if labeled else (texts,)
    dataset = tf.data.Dataset.from_tensor_slices(elements)
    if shuffle:
        # The texts are in memory already: a buffer of all of them is a full shuffle.
        dataset = dataset.shuffle(len(data), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)

    def pack(texts, *label_ids):
        # One tokenizer call per batch of strings, not per example.
        features = preprocessor(list(texts))
        return (features, *label_ids) if label_ids else features

    return dataset.map(pack, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
