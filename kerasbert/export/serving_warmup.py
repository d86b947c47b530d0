"""Warm-up requests that TensorFlow Serving replays when it loads a bundle.

`tensorflow_model_server` reads `assets.extra/tf_serving_warmup_requests`
(a TFRecord file of `PredictionLog`s, at most 1,000) from a model version's
directory and runs each request before it serves that version. Without
it the first request to each signature pays for setting up its graph
(0.3-0.6 s for the `mini` bundle, against 6-12 ms afterwards), and under
`jit_compile=True` each new (batch size, length bucket) pair pays for an
XLA compile (0.6 s for `mini`).

    requests = warmup_requests(bundle, batch_sizes=(1, 8))
    write_warmup_requests(requests, "saved_models/bert/1")
    for signature, inputs in read_warmup_requests("saved_models/bert/1"):
        loaded.signatures[signature](**inputs)   # what the server does
"""

import os

import numpy as np
import tensorflow as tf

from kerasbert.export.serving_bundle import LENGTH_BUCKET

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
MAX_WARMUP_REQUESTS = 1000  # TF Serving's limit


def warmup_requests(bundle, batch_sizes=(1, 8)):
    """The requests that leave nothing to set up or compile on the first
    real request of these batch sizes: for each signature and batch size,
    texts of one word piece per word, packed to each length bucket under
    XLA, or to one short length (shapes need no compile there).

    Args:
        bundle: a `ServingBundle`.
        batch_sizes: the request batch sizes to warm up.

    Returns:
        A list of (signature name, dict of numpy inputs).
    """
    batch_sizes = list(batch_sizes)
    for size in batch_sizes:
        if not isinstance(size, (int, np.integer)) or size < 1:
            raise ValueError(f"warm-up batch size {size!r} is not an integer >= 1")
    if bundle.jit_compile:
        lengths = length_buckets(bundle.seq_length)
    else:
        lengths = [min(LENGTH_BUCKET, bundle.seq_length)]
    word = _one_piece_word(bundle.tokenizer)
    word_id = bundle.tokenizer.vocabulary.index(word)
    requests = []
    for size in batch_sizes:
        for length in lengths:
            # Packed: [CLS] text [SEP], and [CLS] text [SEP] text_b [SEP].
            requests.append(("serving_default", {"text": _texts(word, length - 2, size)}))
            pair = {"text": _texts(word, (length - 3) // 2, size), "text_b": _texts(word, (length - 2) // 2, size)}
            requests.append(("text_pair", pair))
        shape = [size, bundle.seq_length]
        ids = {
            "input_word_ids": np.full(shape, word_id, np.int32),
            "input_mask": np.ones(shape, np.int32),
            "input_type_ids": np.zeros(shape, np.int32),
        }
        requests.append(("ids", ids))
    if len(requests) > MAX_WARMUP_REQUESTS:
        raise ValueError(
            f"warm-up batch sizes {batch_sizes} make {len(requests)} requests; TF Serving reads at "
            f"most {MAX_WARMUP_REQUESTS}"
        )
    return requests


def length_buckets(seq_length):
    """The packed lengths an XLA bundle runs at: multiples of the bucket,
    the last one cut to `seq_length`."""
    ends = range(LENGTH_BUCKET, seq_length + LENGTH_BUCKET, LENGTH_BUCKET)
    return sorted({min(end, seq_length) for end in ends})


def write_warmup_requests(requests, export_dir):
    """Writes `requests` to `export_dir/assets.extra/tf_serving_warmup_requests`
    as `PredictionLog`s of `PredictRequest`s."""
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

    path = os.path.join(export_dir, WARMUP_FILE)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        for signature, inputs in requests:
            request = predict_pb2.PredictRequest()
            request.model_spec.signature_name = signature
            for name, value in inputs.items():
                request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())
    return path


def read_warmup_requests(export_dir):
    """The requests of a bundle's warm-up file, as (signature name, dict of
    numpy inputs); an empty list if it has none."""
    from tensorflow_serving.apis import prediction_log_pb2

    path = os.path.join(export_dir, WARMUP_FILE)
    if not tf.io.gfile.exists(path):
        return []
    requests = []
    for number, record in enumerate(tf.data.TFRecordDataset(path).as_numpy_iterator()):
        log = prediction_log_pb2.PredictionLog.FromString(record)
        if not log.HasField("predict_log"):
            raise ValueError(f"{path}: record {number} is not a predict_log ({log.WhichOneof('log_type')})")
        request = log.predict_log.request
        inputs = {name: tf.make_ndarray(proto) for name, proto in request.inputs.items()}
        requests.append((request.model_spec.signature_name or "serving_default", inputs))
    return requests


def _texts(word, words, batch_size):
    """`[batch_size]` strings of `word` repeated `words` times."""
    return np.array([" ".join([word] * words)] * batch_size, dtype=object)


def _one_piece_word(tokenizer):
    """A vocabulary word that the tokenizer keeps as one piece (in English
    vocabularies a punctuation mark or "the")."""
    candidates = [
        piece
        for piece in tokenizer.vocabulary[:5000]
        if not piece.startswith("##") and not (piece.startswith("[") and piece.endswith("]"))
    ]
    ids = tokenizer.tokenize(tf.constant(candidates), flat=True).to_list()
    for piece, piece_ids in zip(candidates, ids):
        if piece_ids == [tokenizer.vocabulary.index(piece)]:
            return piece
    raise ValueError(f"{tokenizer.vocab_file}: no word of the vocabulary tokenizes to itself alone")
