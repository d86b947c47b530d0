"""Entity-level precision, recall and F1 for IOB tagging, as CoNLL's
`conlleval` script and `seqeval`'s default mode score them.

An entity counts as found only when a predicted chunk has exactly the same
type, start and end as a true one. Chunks are read the conlleval way, so
IOB2 (`B-` starts every entity), IOB1 (`B-` only between two adjacent
entities of one type; an `I-` after `O` or another type starts an entity)
and IOBES tags all work.
"""

import re

TAG = re.compile(r"O|[BIES](-.+)?")


def _split_tag(tag, where):
    if not isinstance(tag, str) or not TAG.fullmatch(tag):
        raise ValueError(f"{where}: {tag!r} is not an IOB tag (O, B-TYPE, I-TYPE, E-, S-)")
    return tag[0], tag[2:]


def entity_spans(tags, where="tags"):
    """The entities of one tag sequence, as `(type, start, end)` with `end`
    exclusive, in order. `where` names the sequence in error messages."""
    spans, start = [], None
    prev, prev_type = "O", ""
    for i, tag in enumerate([*tags, "O"]):  # a final "O" closes the last chunk
        prefix, type_ = _split_tag(tag, f"{where}, position {i}")
        # conlleval's end_of_chunk and start_of_chunk.
        ends = (
            prev in "ES"
            or (prev in "BI" and prefix in "BSO")
            or (prev != "O" and prev_type != type_)
        )
        starts = (
            prefix in "BS"
            or (prev in "ESO" and prefix in "EI")
            or (prefix != "O" and prev_type != type_)
        )
        if ends and start is not None:
            spans.append((prev_type, start, i))
            start = None
        if starts:
            start = i
        prev, prev_type = prefix, type_
    return spans


def entity_scores(true_tags, pred_tags):
    """Micro-averaged entity precision, recall and F1 over all sentences.

    Args:
        true_tags: a list of tag lists, one per sentence.
        pred_tags: the predicted tag lists, the same lengths.

    Returns:
        A dict of floats `precision`, `recall`, `f1` (0 when undefined, as
        seqeval) and ints `true_entities`, `predicted_entities`,
        `correct_entities`.
    """
    if len(true_tags) != len(pred_tags):
        raise ValueError(f"{len(true_tags)} true sentences but {len(pred_tags)} predicted")
    true, pred = set(), set()
    for i, (gold, guess) in enumerate(zip(true_tags, pred_tags)):
        if len(gold) != len(guess):
            raise ValueError(f"sentence {i}: {len(gold)} true tags but {len(guess)} predicted")
        true.update((i, *span) for span in entity_spans(gold, f"true sentence {i}"))
        pred.update((i, *span) for span in entity_spans(guess, f"predicted sentence {i}"))
    correct = len(true & pred)
    precision = correct / len(pred) if pred else 0.0
    recall = correct / len(true) if true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if correct else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "true_entities": len(true),
        "predicted_entities": len(pred),
        "correct_entities": correct,
    }
