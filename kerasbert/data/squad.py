"""SQuAD v1.1 / v2.0 for extractive question answering: read the JSON,
turn examples into sliding-window features for `BertSpanQA`, and decode
start/end logits back into answer text.

The conversion follows google-research/bert's `run_squad.py` (question
truncation, overlapping context spans, the "max context" rule, n-best
decoding, the v2.0 null-score threshold). One change: answers are located
and decoded through the tokenizer's character offsets, as Hugging Face's
`run_qa.py` does, instead of Google's whitespace words and
`get_final_text`. So a decoded answer is always a slice of the original
context, with its casing and accents, whatever the tokenizer normalized.
"""

import dataclasses
import json
import os
import warnings

import numpy as np
import tensorflow as tf

MODEL_INPUTS = ("input_word_ids", "input_mask", "input_type_ids")
TOKENIZE_BATCH = 1024


@dataclasses.dataclass
class SquadExample:
    """One question about one context. `answers` are `(text, char_start)`
    pairs into `context`; empty for unanswerable (v2.0) questions."""

    qas_id: str
    question: str
    context: str
    answers: list = dataclasses.field(default_factory=list)
    is_impossible: bool = False


# Reading ----------------------------------------------------------------------


class _FormatError(ValueError):
    """A problem at a place in the JSON; `read_squad` prefixes the file."""


def _field(record, key, where, types, default=None):
    if not isinstance(record, dict):
        raise _FormatError(f"{where} is a {type(record).__name__}, not an object")
    if key not in record:
        if default is not None:
            return default
        raise _FormatError(f"{where} has no '{key}'")
    value = record[key]
    if not isinstance(value, types):
        expected = (
            types.__name__ if isinstance(types, type) else " or ".join(t.__name__ for t in types)
        )
        raise _FormatError(f"{where}.{key} is a {type(value).__name__}, expected {expected}")
    return value


def read_squad(path, strict=True):
    """Reads a SQuAD v1.1 or v2.0 JSON file into a list of `SquadExample`.

    Every answer is checked against its context: `context[answer_start:]`
    must begin with the answer text. With `strict` any mismatch raises
    (the message counts them and shows the first); otherwise mismatched
    answers are dropped with a warning that counts them, and so are
    answerable questions left without any answer.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not JSON, not SQuAD-shaped (the message names the file
            and the place, e.g. `data[0].paragraphs[3].qas[1] has no
            'question'`), duplicate question ids, mismatched answers.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        raw = f.read()
    try:
        dataset = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 text ({e})") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    try:
        examples, mismatches = _parse(dataset)
    except _FormatError as e:
        raise ValueError(f"{path}: {e}") from None
    if mismatches:
        examples = _handle_mismatches(path, examples, mismatches, strict)
    return examples


def _parse(dataset):
    examples, mismatches, seen = [], [], set()
    for i, article in enumerate(_field(dataset, "data", "the file", list)):
        where_article = f"data[{i}]"
        for j, paragraph in enumerate(_field(article, "paragraphs", where_article, list)):
            where_paragraph = f"{where_article}.paragraphs[{j}]"
            context = _field(paragraph, "context", where_paragraph, str)
            for k, qa in enumerate(_field(paragraph, "qas", where_paragraph, list)):
                where = f"{where_paragraph}.qas[{k}]"
                example = _parse_qa(qa, context, where, mismatches)
                if example.qas_id in seen:
                    raise _FormatError(f"{where}: duplicate id {example.qas_id!r}")
                seen.add(example.qas_id)
                examples.append(example)
    return examples, mismatches


def _parse_qa(qa, context, where, mismatches):
    qas_id = str(_field(qa, "id", where, (str, int)))
    question = _field(qa, "question", where, str)
    is_impossible = _field(qa, "is_impossible", where, bool, default=False)
    # v2.0 unanswerable questions carry `answers: []` (and
    # `plausible_answers`, which are not answers).
    raw_answers = _field(qa, "answers", where, list, default=[] if is_impossible else None)
    answers = []
    for a, answer in enumerate(raw_answers):
        text = _field(answer, "text", f"{where}.answers[{a}]", str)
        start = _field(answer, "answer_start", f"{where}.answers[{a}]", int)
        if start < 0 or context[start : start + len(text)] != text:
            mismatches.append((f"{where}.answers[{a}]", qas_id, text, start, context))
        answers.append((text, start))
    return SquadExample(qas_id, question, context, answers, is_impossible)


def _handle_mismatches(path, examples, mismatches, strict):
    where, qas_id, text, start, context = mismatches[0]
    found = context[max(start, 0) : max(start, 0) + len(text)]
    message = (
        f"{path}: {len(mismatches)} answer(s) do not match their context at "
        f"answer_start; first: {where} (id {qas_id!r}) answer {text!r} at {start}, "
        f"context there {found!r}"
    )
    if strict:
        raise ValueError(message + " (pass strict=False to drop them with a warning)")
    bad = {(qas_id, text, start) for _, qas_id, text, start, _ in mismatches}
    kept, dropped_questions = [], 0
    for example in examples:
        answers = [a for a in example.answers if (example.qas_id, *a) not in bad]
        if example.answers and not answers and not example.is_impossible:
            dropped_questions += 1  # an answerable question with no usable answer
            continue
        kept.append(dataclasses.replace(example, answers=answers))
    warnings.warn(
        f"{message}; dropped them and {dropped_questions} question(s) left without answers"
    )
    return kept


# Features ---------------------------------------------------------------------


def squad_features(examples, tokenizer, max_seq_length=384, doc_stride=128, max_query_length=64):
    """Examples -> sliding-window features, as google-research/bert does.

    Each feature packs `[CLS] question [SEP] span [SEP] [PAD]...`: the
    question cut to `max_query_length` pieces, and one span of at most
    `max_seq_length - len(question) - 3` context pieces; consecutive spans
    start `doc_stride` pieces apart, so an example gives one feature per
    span. The training target is the first answer's (start, end) token
    positions when the span holds the whole answer, else (0, 0), the [CLS]
    position (also for unanswerable questions).

    Args:
        examples: `SquadExample`s (from `read_squad`).
        tokenizer: a `kerasbert.text.WordPieceTokenizer`.

    Returns:
        A dict of numpy arrays, one row per feature:
        `input_word_ids`, `input_mask`, `input_type_ids` (int32
        `[features, max_seq_length]`, the encoder inputs);
        `start_positions`, `end_positions` (int32 `[features]`, the
        targets); and what `decode_answers` needs: `example_index` (int32
        `[features]`, into `examples`), `token_offsets` (int32
        `[features, max_seq_length, 2]`, each context token's
        `[char_start, char_end)` in the example's context, -1 for other
        tokens), `token_is_max_context` (bool `[features,
        max_seq_length]`: this span is the one that gives the token the
        most context on both sides, so a start there is trusted).
    """
    if doc_stride < 1 or max_query_length < 0:
        raise ValueError(
            f"doc_stride={doc_stride} must be >= 1, max_query_length={max_query_length} >= 0"
        )
    question_ids = [
        ids[:max_query_length] for ids, _, _ in _tokenize(tokenizer, [e.question for e in examples])
    ]
    contexts = {}  # SQuAD asks several questions about each paragraph
    for example in examples:
        contexts.setdefault(example.context, len(contexts))
    context_tokens = _tokenize(tokenizer, list(contexts))

    plan, unlocated = [], 0
    for index, example in enumerate(examples):
        _, char_starts, char_ends = context_tokens[contexts[example.context]]
        max_tokens = max_seq_length - len(question_ids[index]) - 3
        if max_tokens <= 0:
            raise ValueError(
                f"max_seq_length={max_seq_length} leaves no room for the context after "
                f"{len(question_ids[index])} question pieces (max_query_length={max_query_length})"
            )
        spans = _doc_spans(len(char_starts), max_tokens, doc_stride)
        answer = None
        if example.answers and not example.is_impossible:
            text, start = example.answers[0]
            answer = _answer_tokens(char_starts, char_ends, start, start + len(text))
            unlocated += answer is None
        best_span = _max_context_spans(spans, len(char_starts))
        plan.extend((index, k, span, answer, best_span) for k, span in enumerate(spans))
    if unlocated:
        warnings.warn(
            f"{unlocated} answer(s) cover no context token (blank text?); their features "
            "are trained as no-answer"
        )

    features = _empty_features(len(plan), max_seq_length)
    special = tokenizer.special_tokens
    for f, (index, k, span, answer, best_span) in enumerate(plan):
        ids, char_starts, char_ends = context_tokens[contexts[examples[index].context]]
        _pack(features, f, special, question_ids[index], ids, char_starts, char_ends, span)
        features["example_index"][f] = index
        start, length = span
        offset = len(question_ids[index]) + 2  # [CLS] question [SEP]
        features["token_is_max_context"][f, offset : offset + length] = (
            best_span[start : start + length] == k
        )
        if answer is not None and start <= answer[0] and answer[1] < start + length:
            features["start_positions"][f] = offset + answer[0] - start
            features["end_positions"][f] = offset + answer[1] - start
    return features


def _tokenize(tokenizer, texts):
    """Per text: (piece ids, char starts, char ends), flat numpy arrays."""
    tokens = []
    for begin in range(0, len(texts), TOKENIZE_BATCH):
        # "replace" keeps one byte per unencodable character (lone
        # surrogates from JSON escapes), so character offsets still hold.
        encoded = [
            text.encode("utf-8", "replace") for text in texts[begin : begin + TOKENIZE_BATCH]
        ]
        ids, starts, ends = (
            t.merge_dims(1, 2) for t in tokenizer.tokenize_with_offsets(tf.constant(encoded))
        )
        splits = ids.row_splits.numpy()
        ids, starts, ends = (t.flat_values.numpy() for t in (ids, starts, ends))
        for i, text in enumerate(encoded):
            piece = slice(splits[i], splits[i + 1])
            tokens.append((ids[piece], *_char_offsets(text, starts[piece], ends[piece])))
    return tokens


def _char_offsets(encoded, byte_starts, byte_ends):
    """UTF-8 byte offsets in `encoded` -> character offsets in the string."""
    if encoded.isascii():
        return byte_starts.astype(np.int32), byte_ends.astype(np.int32)
    data = np.frombuffer(encoded, np.uint8)
    char_of_byte = np.cumsum((data & 0xC0) != 0x80) - 1  # continuation bytes are 10xxxxxx
    # Normalization can move a piece boundary inside a character: widen it
    # to whole characters rather than cut one.
    return (
        char_of_byte[byte_starts].astype(np.int32),
        (char_of_byte[byte_ends - 1] + 1).astype(np.int32),
    )


def _doc_spans(num_tokens, max_tokens, doc_stride):
    """(start, length) windows over the context, Google's loop; one empty
    span for an empty context, so every example gets a feature."""
    spans, start = [], 0
    while True:
        length = min(num_tokens - start, max_tokens)
        spans.append((start, length))
        if start + length >= num_tokens:
            return spans
        start += min(length, doc_stride)


def _max_context_spans(spans, num_tokens):
    """For each context token, the span where it has the most context:
    Google's `_check_is_max_context` score, min(left, right) + 0.01 *
    length; the first span wins a tie."""
    scores = np.full((len(spans), num_tokens), -np.inf)
    positions = np.arange(num_tokens)
    for k, (start, length) in enumerate(spans):
        inside = positions[start : start + length]
        end = start + length - 1
        scores[k, start : start + length] = np.minimum(inside - start, end - inside) + 0.01 * length
    return np.argmax(scores, axis=0)


def _answer_tokens(char_starts, char_ends, answer_start, answer_end):
    """First and last context token overlapping the answer's characters."""
    overlapping = np.flatnonzero((char_ends > answer_start) & (char_starts < answer_end))
    if overlapping.size == 0:
        return None
    return int(overlapping[0]), int(overlapping[-1])


def _empty_features(num_features, seq_length):
    return {
        "input_word_ids": np.zeros((num_features, seq_length), np.int32),
        "input_mask": np.zeros((num_features, seq_length), np.int32),
        "input_type_ids": np.zeros((num_features, seq_length), np.int32),
        "start_positions": np.zeros(num_features, np.int32),
        "end_positions": np.zeros(num_features, np.int32),
        "example_index": np.zeros(num_features, np.int32),
        "token_offsets": np.full((num_features, seq_length, 2), -1, np.int32),
        "token_is_max_context": np.zeros((num_features, seq_length), bool),
    }


def _pack(features, f, special, question, ids, char_starts, char_ends, span):
    """Writes `[CLS] question [SEP] span [SEP]` into row `f`."""
    start, length = span
    cls, sep = special["start_of_sequence_id"], special["end_of_segment_id"]
    context = slice(start, start + length)
    first = [cls, *question, sep]
    row = np.concatenate([first, ids[context], [sep]]).astype(np.int32)
    features["input_word_ids"][f, : len(row)] = row
    features["input_word_ids"][f, len(row) :] = special["padding_id"]
    features["input_mask"][f, : len(row)] = 1
    features["input_type_ids"][f, len(first) : len(row)] = 1
    offsets = features["token_offsets"][f, len(first) : len(first) + length]
    offsets[:, 0], offsets[:, 1] = char_starts[context], char_ends[context]


def squad_dataset(features, batch_size, training, seed=None):
    """A `tf.data.Dataset` of the features for `BertSpanQA`. Training:
    batches of `(inputs, {"start_logits": start, "end_logits": end})`,
    reshuffled every epoch; otherwise batches of the inputs alone, in
    feature order (for `predict`, then `decode_answers`)."""
    names = MODEL_INPUTS + (("start_positions", "end_positions") if training else ())
    tensors = {name: tf.constant(features[name]) for name in names}
    num_features = len(features["input_word_ids"])
    # Shuffle indices, not rows: a buffer of rows would copy the dataset.
    indices = tf.data.Dataset.range(num_features)
    if training:
        indices = indices.shuffle(num_features, seed=seed, reshuffle_each_iteration=True)

    def gather(batch):
        inputs = {name: tf.gather(tensors[name], batch) for name in MODEL_INPUTS}
        if not training:
            return inputs
        targets = {
            "start_logits": tf.gather(tensors["start_positions"], batch),
            "end_logits": tf.gather(tensors["end_positions"], batch),
        }
        return inputs, targets

    return indices.batch(batch_size).map(gather).prefetch(tf.data.AUTOTUNE)


# Decoding ---------------------------------------------------------------------


@dataclasses.dataclass
class _Candidate:
    feature: int
    start: int  # token positions in the feature; (0, 0) is the null answer
    end: int
    start_logit: float
    end_logit: float


def decode_answers(
    examples,
    features,
    start_logits,
    end_logits,
    n_best_size=20,
    max_answer_length=30,
    version_2=False,
    null_score_diff_threshold=0.0,
    return_nbest=False,
):
    """Start/end logits of the features -> answer text per question, as
    Google's `write_predictions`: over all spans of an example, pairs of the
    `n_best_size` best starts and ends, skipping spans outside the context,
    ending before they start, longer than `max_answer_length` tokens, or
    starting at a token whose max context is in another span; the best by
    start + end logit wins. With `version_2`, "" is answered when the null
    score (the [CLS] start + end logits, smallest over the spans) beats the
    best answer's by more than `null_score_diff_threshold`.

    Args:
        examples: the `SquadExample`s given to `squad_features`.
        features: its output (only the metadata is read).
        start_logits, end_logits: float `[features, seq]`, e.g. the outputs
            of `BertSpanQA.predict`.

    Returns:
        `{qas_id: answer text}`, each a slice of the original context ("" if
        no valid span). With `return_nbest`, also `{qas_id: {"nbest": [...],
        "null_score_diff": float or None}}`, the n-best list of dicts
        `text`, `probability`, `start_logit`, `end_logit` (softmax over the
        list) and, for v2, the null score minus the best answer's score
        (tune `null_score_diff_threshold` on it).
    """
    start_logits = np.asarray(start_logits, np.float64)
    end_logits = np.asarray(end_logits, np.float64)
    expected = features["token_offsets"].shape[:2]
    if start_logits.shape != expected or end_logits.shape != expected:
        raise ValueError(
            f"logits of shapes {start_logits.shape} and {end_logits.shape} do not match "
            f"the features, {expected}"
        )
    by_example = [[] for _ in examples]
    for f, index in enumerate(features["example_index"]):
        by_example[index].append(f)

    answers, details = {}, {}
    for example, feature_rows in zip(examples, by_example):
        candidates, null = [], None
        for f in feature_rows:
            candidates += _feature_candidates(
                features, f, start_logits[f], end_logits[f], n_best_size, max_answer_length
            )
            score = start_logits[f, 0] + end_logits[f, 0]
            if null is None or score < null.start_logit + null.end_logit:
                null = _Candidate(f, 0, 0, start_logits[f, 0], end_logits[f, 0])
        if version_2 and null is not None:
            candidates.append(null)
        nbest = _nbest(example.context, features, candidates, n_best_size, version_2, null)
        best = next((entry for entry in nbest if entry["text"]), None)
        answer, diff = best["text"] if best else "", None
        if version_2 and null is not None:
            diff = np.inf  # no valid span: the null answer wins
            if best:
                diff = null.start_logit + null.end_logit - best["start_logit"] - best["end_logit"]
            if diff > null_score_diff_threshold:
                answer = ""
        answers[example.qas_id] = answer
        details[example.qas_id] = {
            "nbest": nbest,
            "null_score_diff": None if diff is None else float(diff),
        }
    return (answers, details) if return_nbest else answers


def _feature_candidates(features, f, start_logits, end_logits, n_best_size, max_answer_length):
    """Valid spans among the best starts x best ends of one feature, in
    Google's order (start-major)."""
    offsets = features["token_offsets"][f]
    max_context = features["token_is_max_context"][f]
    starts = _best_indexes(start_logits, n_best_size)[:, None]
    ends = _best_indexes(end_logits, n_best_size)[None, :]
    valid = (
        (offsets[starts, 0] >= 0)
        & (offsets[ends, 0] >= 0)
        & max_context[starts]
        & (ends >= starts)
        & (ends - starts + 1 <= max_answer_length)
    )
    rows, cols = np.nonzero(valid)
    return [
        _Candidate(f, int(s), int(e), start_logits[s], end_logits[e])
        for s, e in zip(starts[rows, 0], ends[0, cols])
    ]


def _best_indexes(logits, n):
    return np.argsort(-logits, kind="stable")[:n]


def _nbest(context, features, candidates, n_best_size, version_2, null):
    """The `n_best_size` best distinct texts, with softmax probabilities."""
    # Python's sort is stable, so ties keep Google's order.
    candidates = sorted(candidates, key=lambda c: c.start_logit + c.end_logit, reverse=True)
    nbest, seen = [], set()
    for c in candidates:
        if len(nbest) >= n_best_size:
            break
        if c.start > 0:
            offsets = features["token_offsets"][c.feature]
            text = context[offsets[c.start, 0] : offsets[c.end, 1]]
        else:
            text = ""
        if text in seen:
            continue
        seen.add(text)
        nbest.append(
            {"text": text, "start_logit": float(c.start_logit), "end_logit": float(c.end_logit)}
        )
    if version_2 and null is not None and "" not in seen:
        nbest.append(
            {"text": "", "start_logit": float(null.start_logit), "end_logit": float(null.end_logit)}
        )
    if nbest:
        scores = np.array([e["start_logit"] + e["end_logit"] for e in nbest])
        probabilities = np.exp(scores - scores.max())
        probabilities /= probabilities.sum()
        for entry, p in zip(nbest, probabilities):
            entry["probability"] = float(p)
    return nbest
