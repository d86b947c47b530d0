"""The serving bundle's warm-up file: TF Serving's format, replayed through
a classic Session as the model server replays it, covering every shape a
request of the warmed-up batch sizes can run at."""

import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the ops the bundle uses)
from tensorflow_serving.apis import prediction_log_pb2

from kerasbert import BertConfig, BertEncoder
from kerasbert.export import WARMUP_FILE, ServingBundle, export_serving, read_warmup_requests, warmup_requests
from kerasbert.text import WordPieceTokenizer

SEQ = 40  # buckets 16, 32 and 40: the last one cut to the sequence length


@pytest.fixture(scope="module")
def encoder():
    return BertEncoder(BertConfig(
        vocab_size=30522, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=16, max_position_embeddings=SEQ,
    ))


def replay_in_session(export_dir):
    """Each warm-up record run as `tensorflow_model_server` runs it: the
    signature's tensors fed and fetched by name in a Session over the
    SavedModel's MetaGraph. Returns (signature, outputs) pairs."""
    path = os.path.join(export_dir, WARMUP_FILE)
    records = tf.data.TFRecordDataset(path).as_numpy_iterator()
    logs = [prediction_log_pb2.PredictionLog.FromString(record) for record in records]
    graph = tf.Graph()
    replayed = []
    with graph.as_default(), tf.compat.v1.Session(graph=graph) as session:
        signatures = tf.compat.v1.saved_model.loader.load(session, ["serve"], export_dir).signature_def
        for log in logs:
            request = log.predict_log.request
            signature = signatures[request.model_spec.signature_name]
            assert set(request.inputs) == set(signature.inputs), request.model_spec.signature_name
            feed = {}
            for name, proto in request.inputs.items():
                assert proto.dtype == signature.inputs[name].dtype, name
                feed[signature.inputs[name].name] = tf.make_ndarray(proto)
            outputs = session.run({name: info.name for name, info in signature.outputs.items()}, feed)
            replayed.append((request.model_spec.signature_name, outputs))
    return replayed


def test_xla_bundle_warms_every_length_bucket_of_each_batch_size(encoder, minilm_vocab, tmp_path):
    target = export_serving(encoder, minilm_vocab, tmp_path, seq_length=SEQ, jit_compile=True,
                            output_names=["pooled_output", "sequence_output"], warmup_batch_sizes=(1, 3))
    replayed = replay_in_session(target)
    ran = {}
    for signature, outputs in replayed:
        ran.setdefault(signature, set()).add(outputs["sequence_output"].shape[:2])
    every_shape = {(batch, length) for batch in (1, 3) for length in (16, 32, 40)}
    assert ran == {"serving_default": every_shape, "text_pair": every_shape, "ids": {(1, SEQ), (3, SEQ)}}
    assert len(replayed) == 14
    for signature, outputs in replayed:
        assert np.isfinite(outputs["pooled_output"]).all()
        if signature != "ids":  # each text fits: its packed length is the bucket's
            assert not outputs["truncated_tokens"].any()


def test_plain_bundle_warms_each_signature_at_each_batch_size(encoder, minilm_vocab, tmp_path):
    target = export_serving(encoder, minilm_vocab, tmp_path, seq_length=SEQ)
    requests = read_warmup_requests(target)
    batches = sorted((name, len(next(iter(inputs.values())))) for name, inputs in requests)
    assert batches == [("ids", 1), ("ids", 8), ("serving_default", 1), ("serving_default", 8),
                       ("text_pair", 1), ("text_pair", 8)]
    signatures = tf.saved_model.load(target).signatures
    for name, inputs in requests:
        outputs = signatures[name](**inputs)
        assert outputs["pooled_output"].shape[0] == len(next(iter(inputs.values())))


def test_no_batch_sizes_no_warmup_file(encoder, minilm_vocab, tmp_path):
    target = export_serving(encoder, minilm_vocab, tmp_path, seq_length=SEQ, warmup_batch_sizes=())
    assert not os.path.exists(os.path.join(target, WARMUP_FILE))
    assert read_warmup_requests(target) == []


@pytest.mark.parametrize("sizes, message", [
    ((1, 0), "batch size 0 is not an integer >= 1"),
    ((2.5,), "batch size 2.5 is not"),
    (range(1, 60), "make 1003 requests; TF Serving reads at most 1000"),
])
def test_bad_batch_sizes_are_refused_before_anything_is_written(
    encoder, minilm_vocab, tmp_path, sizes, message
):
    tokenizer = WordPieceTokenizer(minilm_vocab, implementation="classic")
    bundle = ServingBundle(encoder, tokenizer, jit_compile=True)
    with pytest.raises(ValueError, match=message):
        warmup_requests(bundle, sizes)
    with pytest.raises(ValueError, match=message):
        export_serving(encoder, minilm_vocab, tmp_path, jit_compile=True, warmup_batch_sizes=sizes)
    assert not os.listdir(tmp_path)
