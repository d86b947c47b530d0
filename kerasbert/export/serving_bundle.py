"""`ServingBundle`: a model with its tokenizer, as TensorFlow Serving loads it."""

import tensorflow as tf

from kerasbert.export.hub_encoder import input_specs
from kerasbert.text import BertPreprocessor


LENGTH_BUCKET = 16


class ServingBundle(tf.__internal__.tracking.AutoTrackable):
    """The SavedModel that TensorFlow Serving loads from
    `<base_path>/<version>/`, with three signatures:

    - `serving_default`: `text` (tf.string `[batch]`);
    - `text_pair`: `text` and `text_b` (`[CLS] text [SEP] text_b [SEP]`);
    - `ids`: the int32 `input_word_ids`, `input_mask`, `input_type_ids`
      `[batch, seq_length]` of an external tokenizer.

    Each returns the tensors `output_names` of `model(inputs,
    training=False)` (a lone tensor is served as `logits`; the text
    signatures run the batch at the length of its longest packed text, so
    `sequence_output` is `[batch, longest, H]`), or for a classifier (`label_names` given, the model
    returning logits) `probabilities`, `label_id` and `label` (the label's
    name); the text signatures add `truncated_tokens`, int32
    `[batch]`, the word pieces cut off to fit `seq_length` (texts are
    truncated, never refused). The tokenizer should be the `"classic"` one:
    then the graph holds only core TensorFlow ops and the ops of tf.text's
    classic `BertTokenizer`, which model server builds link.

    Args:
        model: a callable from the dict of the three inputs to a dict of
            tensors, e.g. a `BertEncoder` or a task model.
        tokenizer: a `WordPieceTokenizer` for the model's vocabulary.
        seq_length: tokens per example, special tokens included.
        output_names: the outputs to serve; default: every tensor output.
        label_names: the class names of a classifier returning logits.
        jit_compile: run the model under XLA: about 1.6x lower latency on
            CPU (mini, batch 1 and 8). Lengths are then rounded up to a
            multiple of 16, so `sequence_output` may hold a few more padding
            positions, and each new (batch size, length) pair compiles once
            (0.6-1.0 s for `mini`; `export_serving` writes warm-up requests
            that move these compiles to the server's load).
            `tensorflow_model_server` runs it only with
            `--xla_cpu_compilation_enabled=true`; hence off by default.

    Example:

    >>> bundle = ServingBundle(encoder, WordPieceTokenizer("vocab.txt", implementation="classic"),
    ...                        output_names=["pooled_output"])
    >>> tf.saved_model.save(bundle, "saved_models/bert/1", signatures=bundle.signatures)
    """

    def __init__(
        self,
        model,
        tokenizer,
        seq_length=128,
        output_names=None,
        label_names=None,
        jit_compile=False,
    ):
        super().__init__()
        self.tokenizer = tokenizer
        self.seq_length = seq_length
        self.output_names = None if output_names is None else list(output_names)
        self.label_names = None if label_names is None else [str(n) for n in label_names]
        self.jit_compile = jit_compile
        self.packer = BertPreprocessor(tokenizer, seq_length=seq_length)
        self.vocab_file = tf.saved_model.Asset(tokenizer.vocab_file)
        # The model stays out of the saved object graph (see HubEncoder);
        # its variables are saved through this list.
        self.variables = [v.value for v in model.variables]

        def outputs(inputs):
            results = model(inputs, training=False)
            if self.label_names is not None:
                return _class_outputs(results, self.label_names)
            if tf.is_tensor(results):
                results = {"logits": results}
            names = self.output_names or [k for k, v in results.items() if tf.is_tensor(v)]
            return {name: results[name] for name in names}

        # XLA compiles one program per input shape: lengths are rounded up
        # to a bucket so that at most seq_length / bucket programs are built
        # per batch size.
        model_outputs = tf.function(outputs, jit_compile=True) if jit_compile else outputs
        bucket = LENGTH_BUCKET if jit_compile else 1

        def serve_segments(segments):
            tokens = [tokenizer.tokenize(s, flat=True) for s in segments]
            inputs = self.packer.bert_pack_inputs(tokens)
            results = model_outputs(_trim_padding(inputs, bucket))
            room = seq_length - (len(segments) + 1)  # after [CLS] and the [SEP]s
            total = tf.add_n([tf.cast(t.row_lengths(), tf.int32) for t in tokens])
            results["truncated_tokens"] = tf.maximum(total - room, 0)
            return results

        text = tf.TensorSpec([None], tf.string, name="text")
        text_b = tf.TensorSpec([None], tf.string, name="text_b")
        self.serving_default = tf.function(
            lambda text: serve_segments([text]), input_signature=[text]
        )
        self.text_pair = tf.function(
            lambda text, text_b: serve_segments([text, text_b]), input_signature=[text, text_b]
        )
        self.ids = tf.function(model_outputs, input_signature=[input_specs(seq_length)])

    @property
    def signatures(self):
        return {
            "serving_default": self.serving_default,
            "text_pair": self.text_pair,
            "ids": self.ids,
        }


def _trim_padding(inputs, bucket=1):
    """Cuts the packed batch after its longest row. Attention masks padding,
    so no output of the real tokens changes; a short request then costs its
    own length, not `seq_length` (about 4x less compute for a sentence of
    30 pieces at 128)."""
    longest = tf.reduce_max(tf.reduce_sum(inputs["input_mask"], axis=1))
    longest = tf.maximum(longest, 2)  # an empty batch: keep the shape valid
    seq_length = tf.shape(inputs["input_mask"])[1]
    longest = tf.minimum((longest + bucket - 1) // bucket * bucket, seq_length)
    return {name: value[:, :longest] for name, value in inputs.items()}


def _class_outputs(logits, label_names):
    probabilities = tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)
    label_id = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
    return {
        "probabilities": probabilities,
        "label_id": label_id,
        "label": tf.gather(tf.constant(label_names), label_id),
    }
