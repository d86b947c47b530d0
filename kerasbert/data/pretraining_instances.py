"""BERT's pretraining instances: google-research/bert's
`create_pretraining_data.py` algorithm, on token ids, in plain Python.

A document is a list of sentences, a sentence a sequence of token ids.
From each document come [CLS] A [SEP] B [SEP] pairs about `max_seq_length`
long (shorter with probability `short_seq_prob`), B being the true continuation
or, half of the time, text from another document (the unused sentences are
put back for the next pair). With `sop=True` (ALBERT), B is always the true
continuation and half of the pairs are swapped instead. Then 15% of the
tokens (at most `max_predictions_per_seq`) are chosen for prediction, of
those 80% become [MASK], 10% a random piece, 10% stay.

Two deliberate differences from the original, both for balanced data:
- the original always pairs a one-sentence chunk (common at the end of short
  documents) with a random next segment, which pushed "random next" to 57%
  on the BBC corpus; here the coin decides, and a lone sentence that must be
  continued is cut in two;
- random replacement pieces are drawn from the real pieces of the
  vocabulary, never [CLS], [PAD] or [unusedN].
"""

import dataclasses
import random


@dataclasses.dataclass(frozen=True)
class MaskingOptions:
    """What `create_masked_lm_predictions` needs to know about the vocabulary."""

    cls_id: int
    sep_id: int
    mask_id: int
    is_continuation: tuple  # is_continuation[id]: the piece starts with "##"
    replacement_ids: tuple  # pieces a masked token may be replaced with
    masked_lm_prob: float = 0.15
    max_predictions_per_seq: int = 20
    whole_word_mask: bool = False


@dataclasses.dataclass
class TrainingInstance:
    tokens: list  # [CLS] A [SEP] B [SEP], after masking
    segment_ids: list
    masked_lm_positions: list
    masked_lm_labels: list
    is_random_next: bool


def truncate_seq_pair(tokens_a, tokens_b, max_num_tokens, rng):
    """Trims the longer segment, from its front or back at random, until the
    pair fits."""
    while len(tokens_a) + len(tokens_b) > max_num_tokens:
        longer = tokens_a if len(tokens_a) > len(tokens_b) else tokens_b
        if rng.random() < 0.5:
            del longer[0]
        else:
            longer.pop()


def create_masked_lm_predictions(tokens, options, rng):
    """Returns `(masked_tokens, positions, labels)` for one sequence."""
    candidates = []
    for i, token in enumerate(tokens):
        if token in (options.cls_id, options.sep_id):
            continue
        if options.whole_word_mask and candidates and options.is_continuation[token]:
            candidates[-1].append(i)
        else:
            candidates.append([i])
    rng.shuffle(candidates)
    num_to_predict = min(
        options.max_predictions_per_seq, max(1, int(round(len(tokens) * options.masked_lm_prob)))
    )
    output = list(tokens)
    masked = []  # (position, label)
    for word in candidates:
        if len(masked) >= num_to_predict:
            break
        if len(masked) + len(word) > num_to_predict:
            continue  # a whole word that does not fit: try a shorter one
        for i in word:
            if rng.random() < 0.8:
                output[i] = options.mask_id
            elif rng.random() < 0.5:
                output[i] = tokens[i]
            else:
                output[i] = options.replacement_ids[rng.randint(0, len(options.replacement_ids) - 1)]
            masked.append((i, tokens[i]))
    masked.sort()
    return output, [i for i, _ in masked], [label for _, label in masked]


def create_instances_from_document(
    documents, index, max_seq_length, short_seq_prob, options, rng, sop=False
):
    """The pairs cut from `documents[index]` (see the module docstring)."""
    document = documents[index]
    max_num_tokens = max_seq_length - 3  # [CLS], [SEP], [SEP]
    target_length = max_num_tokens
    if rng.random() < short_seq_prob:
        target_length = rng.randint(2, max_num_tokens)

    instances = []
    chunk, chunk_length = [], 0
    i = 0
    while i < len(document):
        chunk.append(document[i])
        chunk_length += len(document[i])
        if i == len(document) - 1 or chunk_length >= target_length:
            if chunk:
                is_random_next = not sop and rng.random() < 0.5
                segments = chunk
                if not is_random_next and len(chunk) == 1:
                    # One long sentence: its two halves make the true pair.
                    sentence = chunk[0]
                    if len(sentence) >= 2:
                        cut = rng.randint(1, len(sentence) - 1)
                        segments = [sentence[:cut], sentence[cut:]]
                    else:
                        is_random_next = not sop
                a_end = rng.randint(1, len(segments) - 1) if len(segments) >= 2 else 1
                tokens_a = [t for sentence in segments[:a_end] for t in sentence]
                tokens_b = []
                if is_random_next:
                    target_b_length = target_length - len(tokens_a)
                    for _ in range(10):
                        other = rng.randint(0, len(documents) - 1)
                        if other != index:
                            break
                    other_document = documents[other]
                    start = rng.randint(0, len(other_document) - 1)
                    for sentence in other_document[start:]:
                        tokens_b.extend(sentence)
                        if len(tokens_b) >= target_b_length:
                            break
                    i -= len(chunk) - a_end  # put the unused sentences back
                else:
                    tokens_b = [t for sentence in segments[a_end:] for t in sentence]
                    if sop and rng.random() < 0.5:  # sentence order prediction: swapped
                        is_random_next = True
                        tokens_a, tokens_b = tokens_b, tokens_a
                truncate_seq_pair(tokens_a, tokens_b, max_num_tokens, rng)
                if tokens_a and tokens_b:
                    tokens = [options.cls_id, *tokens_a, options.sep_id, *tokens_b, options.sep_id]
                    segment_ids = [0] * (len(tokens_a) + 2) + [1] * (len(tokens_b) + 1)
                    tokens, positions, labels = create_masked_lm_predictions(tokens, options, rng)
                    instances.append(
                        TrainingInstance(tokens, segment_ids, positions, labels, is_random_next)
                    )
            chunk, chunk_length = [], 0
        i += 1
    return instances


def instance_features(instance, max_seq_length, max_predictions_per_seq):
    """The TFRecord features of one instance, padded: a dict of int lists
    (and float `masked_lm_weights`)."""
    pad = max_seq_length - len(instance.tokens)
    predictions = len(instance.masked_lm_positions)
    unused = max_predictions_per_seq - predictions
    return {
        "input_word_ids": instance.tokens + [0] * pad,
        "input_mask": [1] * len(instance.tokens) + [0] * pad,
        "input_type_ids": instance.segment_ids + [0] * pad,
        "masked_lm_positions": instance.masked_lm_positions + [0] * unused,
        "masked_lm_ids": instance.masked_lm_labels + [0] * unused,
        "masked_lm_weights": [1.0] * predictions + [0.0] * unused,
        "next_sentence_labels": [int(instance.is_random_next)],
    }


def task_rng(seed, *indices):
    """A random generator for one piece of work, independent of which
    process runs it."""
    return random.Random(":".join(str(i) for i in (seed, *indices)))
