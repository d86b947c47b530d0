"""SQuAD exact match and F1, by the rules of the official evaluation
scripts (`evaluate-v1.1.py` and `evaluate-v2.0.py`).

The two scripts agree except on emptiness, and v2.0 must score "no answer":
- v2.0 drops gold answers that normalize to nothing; a question left
  without gold is unanswerable and its only gold answer is "". F1 is then
  1 if both prediction and gold are empty, 0 if only one is. (v1.1 gives F1
  0 whenever a side is empty, and EM compares normalized strings.)
- v1.1 scores a missing prediction 0 and counts it; v2.0 leaves it out of
  the total. Both say so (here, as a warning).
"""

import collections
import re
import string
import warnings

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text):
    """Lower case, drop ASCII punctuation, drop the articles a/an/the,
    collapse white space (in the official scripts' order)."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction, gold):
    return float(normalize_answer(prediction) == normalize_answer(gold))


def f1(prediction, gold, version_2=False):
    """F1 of the bags of normalized words."""
    predicted, expected = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if version_2 and (not predicted or not expected):
        return float(predicted == expected)
    common = sum((collections.Counter(predicted) & collections.Counter(expected)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


def squad_scores(gold, predictions, version_2=None):
    """Exact match and F1, in percent, each the best over a question's gold
    answers, averaged over the questions.

    Args:
        gold: `{qas_id: [gold answer texts]}` (an empty list for an
            unanswerable question), or a list of
            `kerasbert.data.squad.SquadExample`.
        predictions: `{qas_id: text}`; "" means "no answer". Ids not in
            `gold` are ignored.
        version_2: the v2.0 rules; by default, when some question has no
            gold answer.

    Returns:
        `{"exact_match": %, "f1": %, "total": questions scored}`.
    """
    if not isinstance(gold, dict):
        gold = {e.qas_id: [text for text, _ in e.answers] for e in gold}
    if version_2 is None:
        version_2 = any(not answers for answers in gold.values())
    exact_total = f1_total = 0.0
    scored, missing = 0, []
    for qas_id, answers in gold.items():
        if version_2:
            answers = [a for a in answers if normalize_answer(a)] or [""]
        elif not answers:
            raise ValueError(
                f"question {qas_id!r} has no gold answer (SQuAD v2.0? pass version_2=True)"
            )
        if qas_id not in predictions:
            missing.append(qas_id)
            scored += not version_2  # v1.1 counts it as a 0
            continue
        prediction = predictions[qas_id]
        exact_total += max(exact_match(prediction, a) for a in answers)
        f1_total += max(f1(prediction, a, version_2) for a in answers)
        scored += 1
    if missing:
        effect = "left out" if version_2 else "scored 0"
        warnings.warn(
            f"{len(missing)} question(s) without prediction, {effect}; first: {missing[0]!r}"
        )
    if scored == 0:
        raise ValueError("no question to score: no gold answers, or no prediction for any")
    return {
        "exact_match": 100.0 * exact_total / scored,
        "f1": 100.0 * f1_total / scored,
        "total": scored,
    }
