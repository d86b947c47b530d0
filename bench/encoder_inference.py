"""Encoder inference: BERT-base shape, sequence length 128, float32.

Peers, all with random weights and the same inputs (random ids, no padding):

- kerasbert `BertEncoder(BertConfig.preset("base"))` called in a
  `tf.function`, without XLA and with `jit_compile=True`, and (from batch
  2 on) with `concurrent_splits=2`, the batch encoded in two parts side
  by side;
- `keras_hub.models.BertBackbone` of the same sizes, called in a
  `tf.function` and through `predict_on_batch` (both shown; ratios use the
  faster; at batch 32 only the one faster at batch 8 runs);
- Hugging Face `transformers.BertModel(BertConfig())` in torch, `eval()`,
  under `torch.inference_mode()` with 2 threads;
- a 4096 x 4096 fp32 `tf.linalg.matmul`, interleaved with the models, for
  the peak (see `matmul_peak`);
- the encoder's matrix products alone (`matrix_products`): the ceiling of
  any implementation that does the same matrix work the same way, shown
  so that a ratio against a peer can be read against what is left to gain.

Throughput is sequences per second. Achieved GFLOP/s counts the matmuls
only (analytically, see `flops_per_sequence`); its fraction is of the best
fp32 matmul median measured in the same run.
"""

import functools

import numpy as np

from bench import matmul_peak, sizes
from bench.timing import configure_torch, measure, rate_row, ratio

SEQ_LENGTH = 128
BATCHES = (1, 8, 32)
QUICK_BATCHES = (1, 4)
MEMORY_BATCH = 8
PEAK_SIZE = 4096
# Samples last about a second: calls per sample at each batch size.
NUMBER = {1: 4, 4: 2, 8: 1, 32: 1}

KERASBERT = "kerasbert (tf.function)"
KERASBERT_XLA = "kerasbert (tf.function, XLA)"
KERASBERT_SPLIT = "kerasbert (tf.function, 2 concurrent parts)"
KERAS_HUB = "keras-hub BertBackbone (tf.function)"
KERAS_HUB_PREDICT = "keras-hub BertBackbone (predict_on_batch)"
HUGGING_FACE = "Hugging Face BertModel (torch)"
MATRIX_PRODUCTS = "the encoder's matrix products alone (tf.function)"
PACKAGES = {
    KERASBERT: "kerasbert",
    KERASBERT_XLA: "kerasbert",
    KERASBERT_SPLIT: "kerasbert",
    KERAS_HUB: "keras-hub",
    KERAS_HUB_PREDICT: "keras-hub",
    HUGGING_FACE: "transformers",
    MATRIX_PRODUCTS: "ceiling",
}


def bert_sizes(quick):
    """kerasbert's `base` preset (`tiny`, L2/H128/A2, with `--quick`)."""
    return sizes.preset("tiny" if quick else "base")


def flops_per_sequence(config, seq_length):
    """Multiply-add FLOPs of one forward pass of one sequence:

        L * (2 * S * (4 * H**2 + 2 * H * I) + 4 * S**2 * H) + 2 * H**2

    with L layers, S tokens, hidden size H and intermediate size I: per layer
    and token the Q, K, V and output projections (4 H^2 weights) and the two
    feed-forward matmuls (2 H I weights), 2 FLOPs per weight; per layer the
    attention scores Q K^T and the context P V (2 S^2 H FLOPs each); then
    the pooler (H^2 weights, once per sequence). Embedding lookups, softmax,
    LayerNorm, GELU and biases are not counted. BERT-base at S = 128:
    22.35 GFLOP per sequence.
    """
    h, i, s = config.hidden_size, config.intermediate_size, seq_length
    per_layer = 2 * s * (4 * h * h + 2 * h * i) + 4 * s * s * h
    return config.num_hidden_layers * per_layer + 2 * h * h


def random_inputs(config, batch, seq_length, seed=0):
    """Numpy int32 ids, mask (all ones) and segment ids (zeros)."""
    rng = np.random.default_rng(seed)
    return {
        "ids": rng.integers(1000, config.vocab_size, (batch, seq_length)).astype("int32"),
        "mask": np.ones((batch, seq_length), "int32"),
        "types": np.zeros((batch, seq_length), "int32"),
    }


# One model per package and size, shared by the peers and batch sizes.
@functools.lru_cache(maxsize=None)
def kerasbert_encoder(config, concurrent_splits=1):
    from kerasbert import BertEncoder

    return BertEncoder(sizes.kerasbert_config(config), concurrent_splits=concurrent_splits)


keras_hub_backbone = functools.lru_cache(maxsize=None)(sizes.keras_hub_backbone)


@functools.lru_cache(maxsize=None)
def huggingface_model(config):
    configure_torch()
    import transformers

    return transformers.BertModel(sizes.huggingface_config(config)).eval()


def matrix_products(config, batch, seq_length):
    """A factory for `measure`: the matrix products that `flops_per_sequence`
    counts for `batch` sequences, and nothing else, run one after another
    in one `tf.function` on random float32 operands of the encoder's shapes,
    with each layer's own weights: per layer the fused Q/K/V projection, the
    attention scores and context (batched over sequences and heads), the
    output projection and the two feed-forward products; then the pooler.
    No bias, activation, softmax, LayerNorm, embedding or layout change, so
    no implementation of the same math on the same kernels runs faster."""

    def build():
        import tensorflow as tf

        h, i, heads = config.hidden_size, config.intermediate_size, config.num_attention_heads
        rows, head_size = batch * seq_length, h // heads
        normal = lambda *shape: tf.random.normal(shape, stddev=0.05, seed=1)  # noqa: E731
        x, wide = normal(rows, h), normal(rows, i)
        queries = normal(batch, heads, seq_length, head_size)
        probs = normal(batch, heads, seq_length, seq_length)
        layers = [
            (normal(h, 3 * h), normal(h, h), normal(h, i), normal(i, h)) for _ in range(config.num_hidden_layers)
        ]
        first_tokens, pooler = normal(batch, h), normal(h, h)

        @tf.function
        def products():
            outputs = []
            for qkv, output, up, down in layers:
                for a, b, transpose_b in (
                    (x, qkv, False),
                    (queries, queries, True),  # scores: Q K^T
                    (probs, queries, False),  # context: P V
                    (x, output, False),
                    (x, up, False),
                    (wide, down, False),
                ):
                    # One at a time, as in the encoder, where each waits for the last.
                    with tf.control_dependencies(outputs[-1:]):
                        outputs.append(tf.linalg.matmul(a, b, transpose_b=transpose_b))
            with tf.control_dependencies(outputs[-1:]):
                outputs.append(tf.linalg.matmul(first_tokens, pooler))
            return outputs  # all of them: a product nobody reads would be pruned

        return products

    return build


def factories(config, batch, seq_length=SEQ_LENGTH):
    """name -> factory of a step running one batch (see `timing.measure`)."""
    data = random_inputs(config, batch, seq_length)

    def kerasbert(jit_compile, concurrent_splits=1):
        def build():
            import tensorflow as tf

            encoder = kerasbert_encoder(config, concurrent_splits)
            inputs = {
                "input_word_ids": tf.constant(data["ids"]),
                "input_mask": tf.constant(data["mask"]),
                "input_type_ids": tf.constant(data["types"]),
            }

            @tf.function(jit_compile=jit_compile)
            def forward(inputs):
                outputs = encoder(inputs, training=False)
                return outputs["sequence_output"], outputs["pooled_output"]

            return lambda: forward(inputs)

        return build

    def keras_hub(mode):
        def build():
            import tensorflow as tf

            backbone = keras_hub_backbone(config)
            inputs = {
                "token_ids": tf.constant(data["ids"]),
                "padding_mask": tf.constant(data["mask"]),
                "segment_ids": tf.constant(data["types"]),
            }
            if mode == "predict_on_batch":
                return lambda: backbone.predict_on_batch(inputs)
            forward = tf.function(lambda inputs: backbone(inputs, training=False))
            return lambda: forward(inputs)

        return build

    def huggingface():
        torch = configure_torch()
        model = huggingface_model(config)
        inputs = {
            "input_ids": torch.from_numpy(data["ids"]).long(),
            "attention_mask": torch.from_numpy(data["mask"]).long(),
            "token_type_ids": torch.from_numpy(data["types"]).long(),
        }

        def step():
            with torch.inference_mode():
                return model(**inputs)

        return step

    peers = {
        KERASBERT: kerasbert(False),
        KERASBERT_XLA: kerasbert(True),
        KERASBERT_SPLIT: kerasbert(False, concurrent_splits=2),
        KERAS_HUB: keras_hub("tf.function"),
        KERAS_HUB_PREDICT: keras_hub("predict_on_batch"),
        HUGGING_FACE: huggingface,
        MATRIX_PRODUCTS: matrix_products(config, batch, seq_length),
    }
    if batch < 2:  # one sequence is never cut in parts: the same as KERASBERT
        del peers[KERASBERT_SPLIT]
    return peers


def memory_factories(quick):
    """The peers measured by `bench.memory` (batch 8)."""
    everything = factories(bert_sizes(quick), MEMORY_BATCH)
    return {name: everything[name] for name in (KERASBERT, KERASBERT_XLA, KERAS_HUB, HUGGING_FACE)}


def run(options, peak_gflops=None):
    config = bert_sizes(options.quick)
    flops = flops_per_sequence(config, SEQ_LENGTH)
    peak_size = matmul_peak.QUICK_SIZES[0] if options.quick else PEAK_SIZE
    peak_name = f"matmul {peak_size}x{peak_size} fp32"
    batches = QUICK_BATCHES if options.quick else BATCHES
    rows, peaks = [], [] if peak_gflops is None else [peak_gflops]
    for batch in batches:
        peers = dict(factories(config, batch))
        if batch == batches[-1]:
            # The peak, timed between the models; and of keras-hub's two
            # calls, only the faster at the previous batch size.
            peers[peak_name] = matmul_peak.matmul_factory(peak_size)
            previous = {r["name"]: r["median"] for r in rows if r["batch"] == batches[-2]}
            del peers[min((KERAS_HUB, KERAS_HUB_PREDICT), key=previous.get)]
        timings = measure(
            peers,
            options.repeats,
            number=NUMBER.get(batch, 1),
            label=f"encoder_inference batch {batch}",
        )
        if peak_name in timings:
            peak = timings.pop(peak_name).rate(matmul_peak.flops(peak_size) / 1e9)
            peaks.append(peak["median"])
        for name, timing in timings.items():
            row = rate_row(name, timing, batch, package=PACKAGES[name], batch=batch)
            row["gflops"] = row["median"] * flops / 1e9
            rows.append(row)
    rows.append(
        {"name": peak_name, "package": "tensorflow", "batch": batches[-1], **peak, "gflops": peak["median"]}
    )
    attention = huggingface_model(config).config._attn_implementation
    for cache in (kerasbert_encoder, keras_hub_backbone, huggingface_model):
        cache.cache_clear()
    peak = max(peaks)
    for row in rows:  # the interleaved matmul's own fraction shows its drift
        row["peak_fraction"] = row["gflops"] / peak
    return {
        "title": "Encoder inference",
        "unit": "seq/s",
        "config": config.to_dict(),
        "seq_length": SEQ_LENGTH,
        "gflop_per_sequence": flops / 1e9,
        "peak_gflops": peak,
        "huggingface_attention": attention,
        "rows": rows,
        "ratios": _ratios(rows),
    }


def _ratios(rows):
    ratios = []
    for batch in sorted({row["batch"] for row in rows}):
        at = [row for row in rows if row["batch"] == batch]
        best = {
            package: max((r for r in at if r["package"] == package), key=lambda r: r["median"])
            for package in ("kerasbert", "keras-hub", "transformers")
        }
        target = 1.1 if batch >= 8 else None
        for peer in ("keras-hub", "transformers"):
            ratios.append(
                ratio(f"encoder inference, batch {batch}", best["kerasbert"], best[peer], target=target)
            )
        ceiling = next(r for r in at if r["package"] == "ceiling")
        what = f"encoder inference, batch {batch}: share of its matrix products' rate"
        ratios.append(ratio(what, best["kerasbert"], ceiling))
        # The most any encoder doing the same matrix work could show against
        # keras-hub in this run: what a ratio target there can be read against.
        what = f"encoder inference, batch {batch}: its matrix products alone over keras-hub"
        ratios.append(ratio(what, ceiling, best["keras-hub"]))
        if batch == max(row["batch"] for row in rows):
            ratios.append(
                ratio(
                    f"encoder inference, batch {batch}: share of the matmul peak",
                    best["kerasbert"],
                    "matmul peak",
                    value=best["kerasbert"]["peak_fraction"],
                    target=0.85,
                )
            )
    return ratios


def markdown(result):
    config = result["config"]
    lines = [
        f"L{config['num_hidden_layers']}/H{config['hidden_size']}/A{config['num_attention_heads']}, "
        f"sequence length {result['seq_length']}, float32, "
        f"{result['gflop_per_sequence']:.2f} GFLOP per sequence (matmuls). "
        f"Peak: {result['peak_gflops']:.1f} GFLOP/s (best fp32 matmul median of the run). "
        f"Hugging Face attention: `{result['huggingface_attention']}`. "
        "The encoder's matrix products alone: those the GFLOP/s count, with the encoder's shapes, "
        "one after another and nothing else (the ceiling of the same math on the same kernels). "
        "Ratio columns: this row's median over the peer's best median at the same batch.",
        "",
        "| batch | implementation | seq/s median | min | max | GFLOP/s | of peak | vs keras-hub | vs Hugging Face |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for batch in sorted({row["batch"] for row in result["rows"]}):
        at = [row for row in result["rows"] if row["batch"] == batch]
        best = {
            package: max(r["median"] for r in at if r["package"] == package)
            for package in ("keras-hub", "transformers")
        }
        for row in at:
            if row["package"] == "tensorflow":
                lines.append(
                    f"| {batch} | {row['name']} (interleaved) | | | | {row['gflops']:.1f} | "
                    f"{row['peak_fraction']:.0%} | | |"
                )
                continue
            lines.append(
                f"| {batch} | {row['name']} | {row['median']:.2f} | {row['min']:.2f} | "
                f"{row['max']:.2f} | {row['gflops']:.1f} | {row['peak_fraction']:.0%} | "
                f"{row['median'] / best['keras-hub']:.2f}x | {row['median'] / best['transformers']:.2f}x |"
            )
    return "\n".join(lines)
