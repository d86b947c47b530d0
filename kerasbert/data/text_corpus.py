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


def decode_text_file(path, stats, start=0, end=None):
    """The file's text (its bytes from `start` to `end`, by default all of
    them); invalid UTF-8 becomes U+FFFD and is counted. A range that starts
    at 0 counts the file in `stats["files"]`.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file looks binary (NUL bytes or mostly invalid UTF-8).
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: input file not found")
    with open(path, "rb") as f:
        f.seek(start)
        data = f.read() if end is None else f.read(end - start)
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
    if start == 0:
        stats["files"] += 1
    return text


def split_sentences(paragraph, language="en"):
    from sentencex import segment

    return [s.strip() for s in segment(language, paragraph) if s.strip()]


def read_documents(sources, input_format="lines", language="en", map_function=map):
    """Reads documents as lists of sentence strings.

    `"lines"` is the original BERT format: one sentence per line, a blank
    line between documents. `"paragraphs"`: each file is one document, each
    non-blank line a paragraph that `sentencex` splits into sentences.
    Empty documents are skipped and counted. `sources` are file paths or,
    for `"lines"`, `(path, start, end)` byte ranges from `document_ranges`.
    `map_function` runs `read_file` over them; a process pool's `map`
    reads them in parallel, in order.

    Returns:
        `(documents, stats)`, stats a `CorpusStats`.
    """
    if input_format not in INPUT_FORMATS:
        raise ValueError(f"input_format={input_format!r} is not one of {INPUT_FORMATS}")
    stats = CorpusStats()
    documents = []
    read = functools.partial(read_file, input_format=input_format, language=language)
    for file_documents, file_stats in map_function(read, sources):
        documents += file_documents
        stats.update(file_stats)
    stats["documents"] = len(documents)
    return documents, stats


def read_file(source, input_format, language):
    """One source's documents and their `CorpusStats` (see `read_documents`)."""
    path, start, end = source if isinstance(source, tuple) else (source, 0, None)
    stats = CorpusStats()
    lines = decode_text_file(path, stats, start, end).splitlines()
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
        stats["empty_documents"] += 1  # an empty or blank file (a range always holds text)
    stats["sentences"] += sum(map(len, documents))
    return documents, stats


def document_ranges(path, range_bytes):
    """A `"lines"` file cut into byte ranges `(path, start, end)` of at least
    `range_bytes` each (the last one may be shorter; its `end` is None),
    so that it can be read a range at a time. A cut falls only where a line
    of text, then blank lines, then a line of text meet, before the second:
    every range holds text, and the ranges' documents, read one after the
    other, are the file's. A file with no such place is one range."""
    starts = [0]
    with open(path, "rb") as f:
        while True:
            f.seek(starts[-1] + range_bytes)
            f.readline()  # the rest of the line the seek fell into
            cut = _next_document_start(f)
            if cut is None:
                break
            starts.append(cut)
    return [(path, start, end) for start, end in zip(starts, starts[1:] + [None])]


def _next_document_start(f):
    """Where the first line of text after blank lines after a line of text
    begins, reading `f` (binary) from its position; None at the end."""
    text_seen = blank_after_text = False
    while True:
        position = f.tell()
        line = f.readline()
        if not line:
            return None
        # Decoded, so that a blank line is what `read_file` takes for one.
        if line.decode("utf-8", errors="replace").strip():
            if blank_after_text:
                return position
            text_seen = True
        else:
            blank_after_text = text_seen
