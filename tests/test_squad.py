"""SQuAD: the reader, sliding-window features (against Hugging Face's
tokenizer), answer decoding back to the original text, and the official
exact-match / F1 rules."""

import json
import unicodedata

import numpy as np
import pytest
import transformers

from kerasbert.data.squad import (
    SquadExample,
    decode_answers,
    read_squad,
    squad_dataset,
    squad_features,
)
from kerasbert.metrics import squad_scores
from kerasbert.metrics.squad import normalize_answer
from kerasbert.text import WordPieceTokenizer


@pytest.fixture(scope="module")
def tokenizer(minilm_vocab):
    return WordPieceTokenizer(minilm_vocab)


def example(qas_id, question, context, answer=None, is_impossible=False):
    answers = [(answer, context.index(answer))] if answer else []
    return SquadExample(qas_id, question, context, answers, is_impossible)


def answer_text(features, f, context):
    """The context text between the feature's target positions."""
    start, end = features["start_positions"][f], features["end_positions"][f]
    offsets = features["token_offsets"][f]
    return context[offsets[start, 0] : offsets[end, 1]]


def peaked_logits(features):
    """Logits that peak at each feature's target: the answer span, or
    [CLS] (10 + 10)."""
    start = np.zeros(features["input_word_ids"].shape, np.float32)
    end = np.zeros_like(start)
    rows = np.arange(len(start))
    start[rows, features["start_positions"]] = 10.0
    end[rows, features["end_positions"]] = 10.0
    return start, end


# Metric -------------------------------------------------------------------------


def test_normalization_articles_punctuation_white_space():
    assert normalize_answer("  The  Eiffel-Tower, in\tPARIS! ") == "eiffeltower in paris"
    assert normalize_answer("an apple a day, theory") == "apple day theory"  # whole words only
    scores = squad_scores({"q": ["The Eiffel Tower"]}, {"q": "eiffel   tower."})
    assert scores == {"exact_match": 100.0, "f1": 100.0, "total": 1}


def test_partial_overlap_f1():
    # prediction [dog, dog, cat], gold [dog, cat, cat, mouse] ("the" dropped):
    # common bag {dog: 1, cat: 1} = 2; precision 2/3, recall 2/4,
    # F1 = 2 * (2/3) * (1/2) / (2/3 + 1/2) = 4/7.
    scores = squad_scores({"q": ["the dog cat cat mouse"]}, {"q": "Dog dog, cat"})
    assert scores["exact_match"] == 0.0
    assert scores["f1"] == pytest.approx(100 * 4 / 7)


def test_max_over_gold_answers():
    gold = {
        "q1": ["Denver Broncos", "Broncos of Denver"],
        "q2": ["Denver Broncos", "Broncos of Denver"],
    }
    # q1: "broncos" vs "denver broncos": P 1, R 1/2 -> F1 2/3; vs the 3-word
    # gold: P 1, R 1/3 -> 1/2; the max is 2/3. q2 matches the second gold.
    scores = squad_scores(gold, {"q1": "the Broncos", "q2": "broncos of denver"})
    assert scores["exact_match"] == pytest.approx(50.0)
    assert scores["f1"] == pytest.approx(100 * (2 / 3 + 1) / 2)


def test_version_2_no_answer():
    gold = {"impossible": [], "answerable": ["Paris"], "article_only": ["a"]}
    # "" is right for the unanswerable question and for a gold answer that
    # normalizes to nothing (v2.0 drops it), wrong for "Paris".
    scores = squad_scores(gold, {"impossible": "", "answerable": "", "article_only": ""})
    assert scores["exact_match"] == pytest.approx(200 / 3)
    assert scores["f1"] == pytest.approx(200 / 3)
    assert squad_scores(
        gold, {"impossible": "Paris", "answerable": "Paris", "article_only": "an answer"}
    ) == {
        "exact_match": pytest.approx(100 / 3),
        "f1": pytest.approx(100 / 3),
        "total": 3,
    }
    # v1.1 rules on empty strings: EM compares normalized text, F1 is 0.
    v1 = squad_scores({"q": ["a"]}, {"q": ""}, version_2=False)
    assert (v1["exact_match"], v1["f1"]) == (100.0, 0.0)
    with pytest.raises(ValueError, match="'q' has no gold answer"):
        squad_scores({"q": []}, {"q": ""}, version_2=False)


def test_missing_predictions_and_examples_as_gold():
    gold = [example("q1", "?", "x and y", "x"), example("q2", "?", "x and y", "y")]
    with pytest.warns(UserWarning, match="1 question.* scored 0; first: 'q2'"):
        assert squad_scores(gold, {"q1": "x", "other": "z"}) == {
            "exact_match": 50.0,
            "f1": 50.0,
            "total": 2,
        }
    with pytest.warns(UserWarning, match="left out"):
        assert squad_scores(gold, {"q1": "x"}, version_2=True)["total"] == 1


# Reader -------------------------------------------------------------------------

CONTEXT = "Paris is the capital of France. It lies on the Seine."
SEINE = CONTEXT.index("Seine")


def squad_json(qas, version="1.1"):
    return {
        "version": version,
        "data": [{"title": "France", "paragraphs": [{"context": CONTEXT, "qas": qas}]}],
    }


def write(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return path


def test_read_v1_and_v2(tmp_path):
    v1 = squad_json(
        [
            {
                "id": "a",
                "question": "Capital?",
                "answers": [
                    {"text": "Paris", "answer_start": 0},
                    {"text": "the Seine", "answer_start": SEINE - 4},
                ],
            },
        ]
    )
    (e,) = read_squad(write(tmp_path, "v1.json", v1))
    assert e == SquadExample(
        "a", "Capital?", CONTEXT, [("Paris", 0), ("the Seine", SEINE - 4)], False
    )

    v2 = squad_json(
        [
            {
                "id": "b",
                "question": "River?",
                "answers": [{"text": "Seine", "answer_start": SEINE}],
                "is_impossible": False,
            },
            {
                "id": "c",
                "question": "Mountain?",
                "answers": [],
                "is_impossible": True,
                "plausible_answers": [{"text": "Paris", "answer_start": 0}],
            },
        ],
        version="v2.0",
    )
    answerable, impossible = read_squad(str(write(tmp_path, "v2.json", v2)))
    assert answerable.answers == [("Seine", SEINE)] and not answerable.is_impossible
    assert impossible.answers == [] and impossible.is_impossible


def test_read_errors_name_the_file(tmp_path):
    with pytest.raises(ValueError, match=r"broken\.json: not valid JSON"):
        read_squad(write(tmp_path, "broken.json", '{"data": ['))
    no_question = squad_json([{"id": "a", "answers": []}])
    with pytest.raises(
        ValueError, match=r"missing\.json: data\[0\]\.paragraphs\[0\]\.qas\[0\] has no 'question'"
    ):
        read_squad(write(tmp_path, "missing.json", no_question))
    with pytest.raises(ValueError, match=r"nodata\.json: the file has no 'data'"):
        read_squad(write(tmp_path, "nodata.json", {"version": "1.1"}))
    with pytest.raises(FileNotFoundError, match="absent.json"):
        read_squad(tmp_path / "absent.json")


def test_read_mismatched_answer_start(tmp_path):
    bad = squad_json(
        [
            {"id": "a", "question": "Capital?", "answers": [{"text": "Paris", "answer_start": 3}]},
            {
                "id": "b",
                "question": "River?",
                "answers": [
                    {"text": "Seine", "answer_start": SEINE},
                    {"text": "Seine", "answer_start": 99},
                ],
            },
        ]
    )
    path = write(tmp_path, "shifted.json", bad)
    with pytest.raises(
        ValueError,
        match=r"shifted\.json: 2 answer\(s\) do not match .*qas\[0\]\.answers\[0\].*'Paris' at 3",
    ):
        read_squad(path)
    with pytest.warns(
        UserWarning, match=r"shifted\.json: 2 answer.*1 question\(s\) left without answers"
    ):
        (b,) = read_squad(path, strict=False)
    assert b.answers == [("Seine", SEINE)]


# Features -----------------------------------------------------------------------

LONG_CONTEXT = (
    " ".join(f"Sentence {i} says the river flows past mill {i}." for i in range(4))
    + " The old treaty was signed by Grand Duke Ferdinand of Tuscany in Florence. "
    + " ".join(f"Later line {i} mentions boats." for i in range(8))
)
QUESTION = "Who signed the treaty?"  # 5 pieces: spans of 48 - 5 - 3 = 40 pieces


def test_answer_in_second_span(tokenizer):
    ex = example("q", QUESTION, LONG_CONTEXT, "Grand Duke Ferdinand")
    features = squad_features([ex], tokenizer, max_seq_length=48, doc_stride=16)
    offsets = features["token_offsets"]
    assert len(offsets) > 3 and (features["example_index"] == 0).all()
    answer_start = ex.answers[0][1]
    answer_end = answer_start + len(ex.answers[0][0])
    for f in range(len(offsets)):
        context = offsets[f][offsets[f, :, 0] >= 0]
        holds_answer = context[0, 0] <= answer_start and answer_end <= context[-1, 1]
        if holds_answer:
            assert answer_text(features, f, LONG_CONTEXT) == "Grand Duke Ferdinand"
            assert features["input_type_ids"][f, features["start_positions"][f]] == 1
        else:
            assert features["start_positions"][f] == features["end_positions"][f] == 0
        assert holds_answer == (f in (1, 2))  # not in the first span, in the second

    # Each context piece has its max context in exactly one span (ASCII:
    # a piece is identified by its offsets).
    flags = features["token_is_max_context"]
    assert not flags[offsets[..., 0] < 0].any()
    pieces = [tuple(o) for o in offsets[flags]]
    assert len(pieces) == len(set(pieces)) == len({tuple(o) for o in offsets[offsets[..., 0] >= 0]})


def test_spans_equal_hugging_face(tokenizer, minilm_vocab):
    ex = example("q", QUESTION, LONG_CONTEXT, "Grand Duke Ferdinand")
    features = squad_features([ex], tokenizer, max_seq_length=48, doc_stride=16)
    hf = transformers.BertTokenizerFast(minilm_vocab)
    # Hugging Face's `stride` is the overlap; Google's `doc_stride` the step.
    encoded = hf(
        QUESTION,
        LONG_CONTEXT,
        truncation="only_second",
        max_length=48,
        stride=40 - 16,
        return_overflowing_tokens=True,
    )
    ours = [
        list(ids[mask == 1])
        for ids, mask in zip(features["input_word_ids"], features["input_mask"])
    ]
    assert ours == encoded["input_ids"]
    types = [
        list(t[mask == 1]) for t, mask in zip(features["input_type_ids"], features["input_mask"])
    ]
    assert types == encoded["token_type_ids"]
    assert (features["input_word_ids"][features["input_mask"] == 0] == 0).all()


def test_question_truncated_and_short_context(tokenizer):
    ex = example("q", "one two three four five six seven", "Tiny context.", "Tiny")
    features = squad_features([ex], tokenizer, max_seq_length=32, max_query_length=3)
    ids = features["input_word_ids"][0]
    assert list(ids[:5]) == [101, 2028, 2048, 2093, 102]  # [CLS] one two three [SEP]
    assert (features["start_positions"][0], features["end_positions"][0]) == (5, 5)
    with pytest.raises(ValueError, match="leaves no room"):
        squad_features([ex], tokenizer, max_seq_length=6, max_query_length=3)


# Decoding -----------------------------------------------------------------------

CAFE = "Le Café de Flore in PARIS opened in 1887. Its rival, Les Deux Magots, is NEXT DOOR."


def test_decode_keeps_original_text(tokenizer):
    examples = [
        example("cafe", "Which café?", CAFE, "Café de Flore"),
        example("where", "Where is the rival?", CAFE, "NEXT DOOR"),
        example("long", QUESTION, LONG_CONTEXT, "Grand Duke Ferdinand"),
    ]
    features = squad_features(examples, tokenizer, max_seq_length=48, doc_stride=16)
    start, end = peaked_logits(features)  # spans without the answer peak at [CLS]
    answers = decode_answers(examples, features, start, end)
    assert answers == {
        "cafe": "Café de Flore",
        "where": "NEXT DOOR",
        "long": "Grand Duke Ferdinand",
    }

    answers, details = decode_answers(
        examples, features, start, end, n_best_size=3, return_nbest=True
    )
    nbest = details["cafe"]["nbest"]
    assert nbest[0]["text"] == "Café de Flore" and nbest[0]["probability"] > 0.99
    assert len(nbest) <= 3 and sum(e["probability"] for e in nbest) == pytest.approx(1.0)
    assert squad_scores(examples, answers)["exact_match"] == 100.0


def test_decode_skips_invalid_spans(tokenizer):
    ex = example("q", "Which café?", CAFE, "Café de Flore")
    features = squad_features([ex], tokenizer, max_seq_length=48)
    start, end = peaked_logits(features)
    s, e = features["start_positions"][0], features["end_positions"][0]
    start[0, 1], end[0, 1] = 50.0, 50.0  # a question token: not in the context
    start[0, s - 1], end[0, s - 1] = -100.0, 40.0  # "Le": ending there ends before "Café"
    assert decode_answers([ex], features, start, end) == {"q": "Café de Flore"}
    # Longer than max_answer_length: the best valid pair is shorter.
    assert decode_answers([ex], features, start, end, max_answer_length=e - s) != {
        "q": "Café de Flore"
    }


def test_decode_version_2_null_answer(tokenizer):
    examples = [
        example("none", "Who owns it?", CAFE, is_impossible=True),
        example("cafe", "Which café?", CAFE, "Café de Flore"),
    ]
    features = squad_features(examples, tokenizer, max_seq_length=48)
    assert list(features["start_positions"]) == [0, features["start_positions"][1]]
    start, end = peaked_logits(features)  # "none": 10 + 10 at [CLS]
    # In "none", a valid span scoring 8 + 8 < 10 + 10: the null answer wins.
    offsets = features["token_offsets"][0]
    span_start = np.flatnonzero(offsets[:, 0] == CAFE.index("Café"))[0]
    span_end = np.flatnonzero(offsets[:, 1] == CAFE.index(" in PARIS"))[0]
    start[0, span_start], end[0, span_end] = 8.0, 8.0
    answers, details = decode_answers(
        examples, features, start, end, version_2=True, return_nbest=True
    )
    assert answers["none"] == "" and answers["cafe"] == "Café de Flore"
    assert details["none"]["null_score_diff"] == pytest.approx(4.0)
    assert details["none"]["nbest"][0]["text"] == ""
    assert details["cafe"]["null_score_diff"] == pytest.approx(-20.0)
    relaxed = decode_answers(
        examples, features, start, end, version_2=True, null_score_diff_threshold=5.0
    )
    assert relaxed["none"] != ""
    # v1.1 decoding never answers "".
    assert decode_answers(examples, features, start, end)["none"] != ""


NON_ASCII = "東京の駅 🎉 Ünïcödé — naïve Zoë said: «Zürich Hauptbahnhof» is the station. ½ ☃ Straße"


def test_non_ascii_offsets(tokenizer):
    ex = example("q", "Which station did Zoë name?", NON_ASCII, "Zürich Hauptbahnhof")
    features = squad_features([ex], tokenizer, max_seq_length=64)
    assert answer_text(features, 0, NON_ASCII) == "Zürich Hauptbahnhof"
    start, end = peaked_logits(features)
    assert decode_answers([ex], features, start, end) == {"q": "Zürich Hauptbahnhof"}

    # Every context piece's character slice holds the piece, once normalized.
    def normalized(text):
        text = unicodedata.normalize("NFD", text.lower())
        return "".join(c for c in text if unicodedata.category(c) != "Mn")

    ids, offsets = features["input_word_ids"][0], features["token_offsets"][0]
    checked = 0
    for i in np.flatnonzero(offsets[:, 0] >= 0):
        piece = tokenizer.vocabulary[ids[i]].removeprefix("##")
        if piece != "[UNK]":
            assert piece in normalized(NON_ASCII[offsets[i, 0] : offsets[i, 1]]), (
                piece,
                offsets[i],
            )
            checked += 1
    assert checked > 15


def test_squad_dataset(tokenizer):
    examples = [
        example("a", "Which café?", CAFE, "Café de Flore"),
        example("b", QUESTION, LONG_CONTEXT, "Grand Duke Ferdinand"),
    ]
    features = squad_features(examples, tokenizer, max_seq_length=48, doc_stride=16)
    n = len(features["input_word_ids"])
    inputs, targets = next(iter(squad_dataset(features, batch_size=n, training=True, seed=1)))
    rows = np.column_stack(
        [inputs["input_word_ids"], targets["start_logits"], targets["end_logits"]]
    )
    expected = np.column_stack(
        [features["input_word_ids"], features["start_positions"], features["end_positions"]]
    )
    assert sorted(map(tuple, rows.tolist())) == sorted(
        map(tuple, expected.tolist())
    )  # shuffled rows
    batches = list(squad_dataset(features, batch_size=3, training=False))
    assert set(batches[0]) == {"input_word_ids", "input_mask", "input_type_ids"}
    np.testing.assert_array_equal(
        np.concatenate([b["input_mask"] for b in batches]), features["input_mask"]
    )
