"""CoNLL files -> sentences -> features with tags on the first word piece."""

import numpy as np
import pytest

from kerasbert.data.conll import (
    predictions_to_tags,
    read_conll,
    tag_vocabulary,
    tagging_features,
)
from kerasbert.text import WordPieceTokenizer

CLS, SEP = 101, 102
# CoNLL-2003 layout: documents, several blank lines, trailing spaces, a tab,
# and no blank line at the end.
CONLL = (
    "-DOCSTART- -X- -X- O\n"
    "\n"
    "EU NNP B-NP B-ORG\n"
    "rejects VBZ B-VP O   \n"
    "Kerasbertization NNP I-NP B-MISC\n"
    "Washington NNP I-NP B-LOC\n"
    ". . O O\n"
    "\n"
    "\n"
    "-DOCSTART- -X- -X- O\n"
    "\n"
    "Peter NNP B-NP B-PER\r\n"
    "Blackburn\tNNP I-NP I-PER\n"
    "\n"
    "tokenizers NNS B-NP O"
)


@pytest.fixture(scope="module")
def tokenizer(minilm_vocab):
    return WordPieceTokenizer(minilm_vocab)


@pytest.fixture
def sentences(tmp_path):
    path = tmp_path / "train.txt"
    path.write_bytes(CONLL.encode())
    return read_conll(str(path))


def pieces(tokenizer, word):
    return tokenizer.tokenize([word], flat=True)[0].numpy().tolist()


def test_read_conll(sentences):
    assert sentences == [
        (
            ["EU", "rejects", "Kerasbertization", "Washington", "."],
            ["B-ORG", "O", "B-MISC", "B-LOC", "O"],
        ),
        (["Peter", "Blackburn"], ["B-PER", "I-PER"]),
        (["tokenizers"], ["O"]),
    ]
    assert tag_vocabulary(sentences) == ["O", "B-LOC", "B-MISC", "B-ORG", "B-PER", "I-PER"]


def test_label_on_the_first_piece_only(sentences, tokenizer):
    assert pieces(tokenizer, "Kerasbertization") == [
        17710,
        8180,
        8296,
        3989,
    ]  # keras ##bert ##ization
    names = tag_vocabulary(sentences)
    features, stats = tagging_features(sentences, tokenizer, names, seq_length=12)
    assert stats == dict(
        sentences=3, words=8, dropped_words=0, truncated_words=0, truncated_sentences=0
    )
    for key in ("input_word_ids", "input_mask", "input_type_ids", "labels"):
        assert features[key].shape == (3, 12) and features[key].dtype == np.int32
    for row, (words, tags) in enumerate(sentences):
        ids, labels = [CLS], [-1]
        for word, tag in zip(words, tags):
            word_pieces = pieces(tokenizer, word)
            ids += word_pieces
            labels += [names.index(tag)] + [-1] * (len(word_pieces) - 1)
        ids, labels = ids + [SEP], labels + [-1]
        pad = 12 - len(ids)
        assert features["input_word_ids"][row].tolist() == ids + [0] * pad
        assert features["labels"][row].tolist() == labels + [-1] * pad
        assert features["input_mask"][row].tolist() == [1] * len(ids) + [0] * pad
    # "kerasbertization" (4 pieces) and "tokenizers" (3) are labeled once.
    assert features["labels"][0, 3:8].tolist() == [
        names.index("B-MISC"),
        -1,
        -1,
        -1,
        names.index("B-LOC"),
    ]
    assert features["labels"][2, 1:5].tolist() == [0, -1, -1, -1]
    np.testing.assert_array_equal(features["label_weights"], features["labels"] >= 0)
    assert features["label_weights"].dtype == np.float32 and not features["input_type_ids"].any()

    assert predictions_to_tags(features["labels"], features["labels"], names) == [
        t for _, t in sentences
    ]
    logits = np.eye(len(names))[np.maximum(features["labels"], 0)]  # [n, seq, tags], argmax taken
    assert predictions_to_tags(logits, features["labels"], names) == [t for _, t in sentences]


def test_truncation_and_dropped_words_are_counted(sentences, tokenizer):
    names = tag_vocabulary(sentences)
    # 4 pieces fit: "eu rejects" (2); "kerasbertization" (4) does not, and
    # the words after it go too, though they would fit.
    features, stats = tagging_features(sentences, tokenizer, names, seq_length=6)
    assert stats == dict(
        sentences=3, words=8, dropped_words=0, truncated_words=3, truncated_sentences=1
    )
    assert features["input_word_ids"][0].tolist() == [CLS] + pieces(tokenizer, "EU rejects") + [
        SEP,
        0,
        0,
    ]
    assert predictions_to_tags(features["labels"], features["labels"], names)[0] == ["B-ORG", "O"]

    # A zero-width space gives no piece: dropped and counted, not labeled.
    sentence = (["Hello", "\u200b", "world"], ["O", "B-LOC", "O"])
    features, stats = tagging_features([sentence], tokenizer, names, seq_length=8)
    assert stats["dropped_words"] == 1 and stats["truncated_words"] == 0
    assert features["labels"][0].tolist() == [-1, 0, 0, -1, -1, -1, -1, -1]


def test_errors(tmp_path, sentences, tokenizer):
    path = tmp_path / "bad.txt"
    path.write_text("EU B-ORG\n\nrejects\n")
    with pytest.raises(ValueError, match=r"bad.txt: line 3: 1 column\(s\) in 'rejects'"):
        read_conll(str(path))
    path.write_text("EU NNP B-ORG\n")
    with pytest.raises(ValueError, match="line 1: 3 column"):
        read_conll(str(path), tag_column=3)
    path.write_text("-DOCSTART- -X- -X- O\n\n")
    with pytest.raises(ValueError, match="bad.txt: no sentences"):
        read_conll(str(path))
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        read_conll(str(tmp_path / "missing.txt"))
    with pytest.raises(
        ValueError, match="sentence 1: word 'Peter' has the tag 'B-PER', not one of"
    ):
        tagging_features(sentences, tokenizer, ["O", "B-ORG", "B-MISC", "B-LOC"], seq_length=12)
