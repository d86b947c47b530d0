"""Classification and entity metrics against numbers worked out by hand."""

import numpy as np
import pytest

from kerasbert.metrics.classification import accuracy, confusion_matrix, macro_f1
from kerasbert.metrics.tagging import entity_scores, entity_spans

# Class 2 is never predicted.
Y_TRUE = [0, 0, 1, 1, 2, 2]
Y_PRED = [0, 0, 0, 1, 1, 1]


def test_accuracy_and_confusion_matrix():
    assert accuracy(Y_TRUE, Y_PRED) == pytest.approx(3 / 6)
    assert accuracy([0, 1, 2, 2, 1], [0, 2, 2, 2, 1]) == pytest.approx(0.8)
    scores = np.eye(3)[Y_PRED] + 0.1  # scores: argmax taken
    assert accuracy(np.array(Y_TRUE), scores) == pytest.approx(0.5)
    matrix = confusion_matrix(Y_TRUE, Y_PRED, num_classes=4)
    assert matrix.tolist() == [[2, 0, 0, 0], [1, 1, 0, 0], [0, 2, 0, 0], [0, 0, 0, 0]]


def test_macro_f1_by_hand():
    # class 0: TP 2, FP 1, FN 0 -> P 2/3, R 1   -> F1 0.8
    # class 1: TP 1, FP 2, FN 1 -> P 1/3, R 1/2 -> F1 0.4
    # class 2: TP 0 (never predicted)           -> F1 0
    assert macro_f1(Y_TRUE, Y_PRED) == pytest.approx((0.8 + 0.4 + 0) / 3)
    # Class 3 is in neither: left out of the mean, as scikit-learn's default.
    assert macro_f1(Y_TRUE, Y_PRED, num_classes=4) == pytest.approx(0.4)
    # A class predicted but never true also scores 0: 0 -> F1 2/3, 1 -> F1 0.
    assert macro_f1([0, 0], [0, 1]) == pytest.approx((2 / 3 + 0) / 2)
    assert macro_f1([1, 1, 1], [1, 1, 1]) == 1.0


def test_macro_f1_matches_sklearn():
    sklearn = pytest.importorskip("sklearn.metrics")
    rng = np.random.RandomState(0)
    for _ in range(20):
        y_true, y_pred = rng.randint(0, 6, 30), rng.randint(0, 4, 30)
        expected = sklearn.f1_score(y_true, y_pred, average="macro", zero_division=0)
        assert macro_f1(y_true, y_pred) == pytest.approx(expected)


def test_classification_errors():
    with pytest.raises(ValueError, match="shape"):
        accuracy([0, 1], [0, 1, 1])
    with pytest.raises(ValueError, match="class id 3, num_classes=3"):
        confusion_matrix([0, 3], [0, 1], num_classes=3)
    with pytest.raises(ValueError, match="no examples"):
        macro_f1([], [])


def test_entity_spans_iob2_and_iob1():
    assert entity_spans(["B-PER", "I-PER", "O", "B-LOC", "B-LOC"]) == [
        ("PER", 0, 2),
        ("LOC", 3, 4),
        ("LOC", 4, 5),
    ]
    # IOB1: I- starts an entity after O or another type; B- splits two of one type.
    assert entity_spans(["I-PER", "I-PER", "B-PER", "O", "I-LOC", "I-ORG"]) == [
        ("PER", 0, 2),
        ("PER", 2, 3),
        ("LOC", 4, 5),
        ("ORG", 5, 6),
    ]
    assert entity_spans(["O", "O"]) == []
    with pytest.raises(ValueError, match="position 1: 'PER' is not an IOB tag"):
        entity_spans(["O", "PER"])


def test_entity_scores_by_hand():
    true = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "I-ORG", "I-ORG", "O"]]
    pred = [["B-PER", "O", "O", "B-LOC"], ["B-ORG", "I-ORG", "I-ORG", "B-MISC"]]
    # True: PER 0-2, LOC 3, ORG 0-3. Predicted: PER 0-1 (too short: wrong),
    # LOC 3, ORG 0-3, MISC 3. Correct 2 of 4 predicted, 2 of 3 true.
    scores = entity_scores(true, pred)
    assert scores["precision"] == pytest.approx(2 / 4)
    assert scores["recall"] == pytest.approx(2 / 3)
    assert scores["f1"] == pytest.approx(2 * (1 / 2) * (2 / 3) / (1 / 2 + 2 / 3))  # 4/7
    assert (scores["true_entities"], scores["predicted_entities"], scores["correct_entities"]) == (
        3,
        4,
        2,
    )
    # A wrong type on the right span is wrong too; nothing found scores 0, not an error.
    assert entity_scores([["B-PER"]], [["B-LOC"]])["f1"] == 0.0
    assert entity_scores([["O"]], [["O"]]) == dict(
        precision=0.0, recall=0.0, f1=0.0, true_entities=0, predicted_entities=0, correct_entities=0
    )
    with pytest.raises(ValueError, match="sentence 1: 2 true tags but 1 predicted"):
        entity_scores([["O"], ["O", "O"]], [["O"], ["O"]])


def test_entity_scores_match_seqeval():
    seqeval = pytest.importorskip("seqeval.metrics")
    tags = ["O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "I-ORG", "E-PER", "S-LOC"]
    rng = np.random.RandomState(0)
    true = [[tags[i] for i in rng.randint(0, len(tags), rng.randint(1, 12))] for _ in range(40)]
    pred = [[t if rng.rand() < 0.6 else tags[rng.randint(len(tags))] for t in s] for s in true]
    scores = entity_scores(true, pred)
    assert scores["precision"] == pytest.approx(seqeval.precision_score(true, pred))
    assert scores["recall"] == pytest.approx(seqeval.recall_score(true, pred))
    assert scores["f1"] == pytest.approx(seqeval.f1_score(true, pred))
