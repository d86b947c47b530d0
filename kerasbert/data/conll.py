"""CoNLL-style tagging files -> sentences -> BERT token-level features.

A CoNLL file (CoNLL-2003 NER and its kin) holds one word per line with its
columns separated by spaces or tabs, the word first and the tag in
`tag_column`; blank lines separate sentences and `-DOCSTART-` lines
documents:

    -DOCSTART- -X- -X- O

    EU NNP B-NP B-ORG
    rejects VBZ B-VP O

BERT sees word pieces, the tags belong to words: as in the BERT paper, a
word's tag goes on its first piece and the other pieces carry no label (-1).
"""

import collections
import logging
import os
import re

import numpy as np
import tensorflow as tf

from kerasbert.text_files import decode_text_file

DOCSTART = "-DOCSTART-"
IGNORED_LABEL = -1


def read_conll(path, tag_column=-1):
    """Reads a CoNLL file.

    Args:
        path: the file.
        tag_column: index of the tag among a line's columns (the word is
            column 0); -1, the last, fits CoNLL-2003.

    Returns:
        A list of sentences, each a `(words, tags)` pair of string lists.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a line without a tag in `tag_column`, or no sentences.
    """
    path = os.fspath(path)
    text = decode_text_file(path, collections.Counter())
    sentences, words, tags = [], [], []
    # Not splitlines(): it would also break lines at U+2028, U+0085, ...
    # which a word may hold.
    for line, source in enumerate(text.split("\n"), 1):
        # Columns are split on spaces and tabs only: a word may be, say, U+00A0.
        source = source.strip(" \t\r")
        columns = re.split(r"[ \t]+", source) if source else []
        if not columns or columns[0] == DOCSTART:  # the end of a sentence
            if words:
                sentences.append((words, tags))
            words, tags = [], []
            continue
        if not -len(columns) <= tag_column < len(columns) or tag_column % len(columns) == 0:
            raise ValueError(
                f"{path}: line {line}: {len(columns)} column(s) in {source!r}, expected "
                f"a word and a tag in column {tag_column}"
            )
        words.append(columns[0])
        tags.append(columns[tag_column])
    if words:  # a file without a final blank line
        sentences.append((words, tags))
    if not sentences:
        raise ValueError(f"{path}: no sentences")
    return sentences


def tag_vocabulary(sentences):
    """The distinct tags of `sentences`, sorted, with `"O"` first if present
    (so that id 0 is "outside" whatever the entity types)."""
    tags = sorted({tag for _, sentence_tags in sentences for tag in sentence_tags})
    if "O" in tags:
        tags.remove("O")
        tags.insert(0, "O")
    return tags


def tagging_features(sentences, tokenizer, label_names, seq_length):
    """Packs sentences as `[CLS] pieces... [SEP] [PAD]...` with the tag ids
    on the first piece of each word.

    Words that give no piece (only control or format characters) are dropped;
    a sentence too long for `seq_length` keeps its first words that fit
    whole. Both are counted in the returned stats and logged.

    Args:
        sentences: `(words, tags)` pairs, as from `read_conll`.
        tokenizer: a `kerasbert.text.WordPieceTokenizer`.
        label_names: the tag vocabulary (`tag_vocabulary` of the training set).
        seq_length: length of the packed rows, [CLS] and [SEP] included.

    Returns:
        `(features, stats)`. `features`: `input_word_ids`, `input_mask`,
        `input_type_ids`, `labels` (tag id on first pieces, -1 elsewhere),
        all int32 `[sentences, seq_length]`, and `label_weights` float32
        (1 where `labels >= 0`). `stats`: counts of `sentences`, `words`,
        `dropped_words`, `truncated_words`, `truncated_sentences`.

    Raises:
        ValueError: a tag not in `label_names`, a sentence whose words and
            tags differ in number, no sentences, or `seq_length < 3`.
    """
    if seq_length < 3:
        raise ValueError(f"seq_length={seq_length} leaves no room between [CLS] and [SEP]")
    if not sentences:
        raise ValueError("tagging_features: no sentences")
    index = {name: i for i, name in enumerate(label_names)}
    for number, (words, tags) in enumerate(sentences):
        if len(words) != len(tags):
            raise ValueError(f"sentence {number}: {len(words)} words but {len(tags)} tags")
        for word, tag in zip(words, tags):
            if tag not in index:
                raise ValueError(
                    f"sentence {number}: word {word!r} has the tag {tag!r}, not one of "
                    f"{list(label_names)}"
                )

    # One tokenizer call for all words: per-sentence calls would be slow. A
    # word may be several basic-tokenizer words ("U.S." -> u . s .): flat
    # gives all pieces of each input word.
    all_words = [word for words, _ in sentences for word in words]
    pieces = tokenizer.tokenize(tf.constant(all_words, tf.string), flat=True)
    piece_ids, splits = pieces.flat_values.numpy(), pieces.row_splits.numpy()

    special = tokenizer.special_tokens
    shape = (len(sentences), seq_length)
    word_ids = np.full(shape, special["padding_id"], np.int32)
    mask = np.zeros(shape, np.int32)
    labels = np.full(shape, IGNORED_LABEL, np.int32)
    stats = {"sentences": len(sentences), "words": len(all_words), "dropped_words": 0}
    stats.update(truncated_words=0, truncated_sentences=0)
    w = 0  # the next word in all_words
    for row, (_, tags) in enumerate(sentences):
        position, truncated = 1, False
        for tag in tags:
            start, end = splits[w], splits[w + 1]
            w += 1
            if start == end:
                stats["dropped_words"] += 1
            elif truncated or position + (end - start) > seq_length - 1:
                truncated = True  # later words are dropped too, to keep the order
                stats["truncated_words"] += 1
            else:
                word_ids[row, position : position + end - start] = piece_ids[start:end]
                labels[row, position] = index[tag]
                position += end - start
        word_ids[row, 0] = special["start_of_sequence_id"]
        word_ids[row, position] = special["end_of_segment_id"]
        mask[row, : position + 1] = 1
        stats["truncated_sentences"] += truncated
    if stats["dropped_words"] or stats["truncated_words"]:
        logging.warning(
            "tagging_features: %d words without pieces dropped, %d words of %d sentences "
            "longer than seq_length=%d truncated",
            stats["dropped_words"],
            stats["truncated_words"],
            stats["truncated_sentences"],
            seq_length,
        )
    features = {
        "input_word_ids": word_ids,
        "input_mask": mask,
        "input_type_ids": np.zeros(shape, np.int32),
        "labels": labels,
        "label_weights": (labels >= 0).astype(np.float32),
    }
    return features, stats


def predictions_to_tags(pred_ids, labels, label_names):
    """The predicted tag of each kept word: the prediction at its first
    piece, the positions where `labels >= 0`.

    Gold tags for the same words: `predictions_to_tags(labels, labels,
    label_names)`. Words dropped or truncated by `tagging_features` are in
    neither (its stats count them).

    Args:
        pred_ids: tag ids `[sentences, seq_length]`, or logits
            `[sentences, seq_length, tags]` (argmax taken).
        labels: the `labels` feature of `tagging_features`.
        label_names: the tag vocabulary.

    Returns:
        A list of tag lists, one per sentence.
    """
    pred_ids, labels = np.asarray(pred_ids), np.asarray(labels)
    if pred_ids.ndim == labels.ndim + 1:
        pred_ids = pred_ids.argmax(-1)
    if pred_ids.shape != labels.shape:
        raise ValueError(
            f"predictions of shape {pred_ids.shape} for labels of shape {labels.shape}"
        )
    return [
        [label_names[i] for i in predicted[gold >= 0]] for predicted, gold in zip(pred_ids, labels)
    ]
