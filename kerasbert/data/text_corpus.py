"""Raw text files -> documents -> sentences."""

import collections
import functools
import logging
import os

INPUT_FORMATS = ("lines", "paragraphs")
# A file is taken for binary when it holds NUL bytes or this share of bytes
# is not valid UTF-8.
BINARY_REPLACED_SHARE = 0.1


class CorpusStats(collections.Counter):
    """Counts `files`, `documents`, `sentences`, `empty_documents`,
    `replaced_characters` (invalid UTF-8 sequences)."""


def decode_text_file(path, stats):
    """The file's text; invalid UTF-8 becomes U+FFFD and is counted.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file looks binary (NUL bytes or mostly invalid UTF-8).
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: input file not found")
    with open(path, "rb") as f:
        data = f.read()
    if b"\x00" in data:
        raise ValueError(f"{path}: looks like a binary file (NUL bytes), not text")
    text = data.decode("utf-8", errors="replace")
    replaced = text.count("\ufffd") - data.count("\ufffd".encode())
    if replaced:
        if replaced > BINARY_REPLACED_SHARE * max(len(data), 1):
            raise ValueError(
                f"{path}: looks like a binary file ({replaced} invalid UTF-8 sequences "
                f"in {len(data)} bytes), not text"
            )
        logging.warning("%s: %d invalid UTF-8 sequences replaced", path, replaced)
        stats["replaced_characters"] += replaced
    stats["files"] += 1
    return text


def split_sentences(paragraph, language="en"):
    from sentencex import segment

    return [s.strip() for s in segment(language, paragraph) if s.strip()]


def read_documents(files, input_format="lines", language="en", map_function=map):
    """Reads documents as lists of sentence strings.

    `"lines"` is the original BERT format: one sentence per line, a blank
    line between documents. `"paragraphs"`: each file is one document, each
    non-blank line a paragraph that `sentencex` splits into sentences.
    Empty documents are skipped and counted. `map_function` runs `read_file`
    over the files; a process pool's `map` reads them in parallel, in order.

    Returns:
        `(documents, stats)`, stats a `CorpusStats`.
    """
    if input_format not in INPUT_FORMATS:
        raise ValueError(f"input_format={input_format!r} is not one of {INPUT_FORMATS}")
    stats = CorpusStats()
    documents = []
    read = functools.partial(read_file, input_format=input_format, language=language)
    for file_documents, file_stats in map_function(read, files):
        documents += file_documents
        stats.update(file_stats)
    stats["documents"] = len(documents)
    return documents, stats


def read_file(path, input_format, language):
    """One file's documents and their `CorpusStats` (see `read_documents`)."""
    stats = CorpusStats()
    lines = decode_text_file(path, stats).splitlines()
    if input_format == "paragraphs":
        documents = [[s for line in lines for s in split_sentences(line, language)]]
    else:
        documents = [[]]
        for line in lines:
            if line.strip():
                documents[-1].append(line.strip())
            elif documents[-1]:
                documents.append([])
    documents = [d for d in documents if d]
    if not documents:
        stats["empty_documents"] += 1  # an empty or blank file
    stats["sentences"] += sum(map(len, documents))
    return documents, stats
