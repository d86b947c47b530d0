"""A serving bundle loaded once and called from 8 threads returns, for each
request, exactly what a single-threaded call returns."""

import concurrent.futures
import random

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the ops the bundle uses)

from kerasbert import BertConfig, BertEncoder
from kerasbert.export import export_serving

SEQ = 32
THREADS, REQUESTS = 8, 2000
WORDS = "the a cat sat on mat résumé 東京 £3bn don't HELLO , . ! ? \x00 \ufffd".split(" ")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, minilm_vocab):
    encoder = BertEncoder(BertConfig(
        vocab_size=30522, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=16, max_position_embeddings=SEQ,
    ))
    return tf.saved_model.load(export_serving(encoder, minilm_vocab, tmp_path_factory.mktemp("bundle"),
                                              seq_length=SEQ))


def make_requests(count, seed=0):
    """Batches of 1-8 texts of 0-60 words, half of them pairs."""
    rng = random.Random(seed)

    def texts(size):
        return [" ".join(rng.choices(WORDS, k=rng.randint(0, 60))) for _ in range(size)]

    requests = []
    for _ in range(count):
        size = rng.randint(1, 8)
        requests.append((texts(size), texts(size) if rng.random() < 0.5 else None))
    return requests


def serve(bundle, request):
    text, text_b = request
    if text_b is None:
        outputs = bundle.signatures["serving_default"](text=tf.constant(text))
    else:
        outputs = bundle.signatures["text_pair"](text=tf.constant(text), text_b=tf.constant(text_b))
    return {name: value.numpy() for name, value in outputs.items()}


def test_eight_threads_get_exactly_the_single_threaded_answers(bundle):
    requests = make_requests(REQUESTS)
    expected = [serve(bundle, request) for request in requests]
    with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
        answers = list(pool.map(lambda request: serve(bundle, request), requests))
    assert sum(r[1] is not None for r in requests) > REQUESTS // 3
    for request, got, want in zip(requests, answers, expected, strict=True):
        assert set(got) == set(want)
        assert got["pooled_output"].shape[0] == len(request[0])
        for name in want:
            # Exactly: the same kernels on the same batch; only the threads differ.
            np.testing.assert_array_equal(got[name], want[name], err_msg=name)
