"""Raw text files -> documents -> sentences."""

import collections
import functools

from kerasbert.text_files import decode_text_file

INPUT_FORMATS = ("lines", "paragraphs")


class CorpusStats(collections.Counter):
    """Counts `files`, `documents`, `sentences`, `empty_documents`,
    `replaced_characters` (invalid UTF-8 sequences)."""


def split_sentences(paragraph, language="en"):
    from sentencex import segment

    return [s.strip() for s in segment(language, paragraph) if s.strip()]


def read_documents(sources, input_format="lines", language="en", map_function=map):
    """Reads documents as lists of sentence strings.

    `"lines"` is the original BERT format: one sentence per line, a blank
    line between documents. `"paragraphs"`: each file is one document, each
    non-blank line a paragraph that `sentencex` splits into sentences.
    Empty documents are skipped and counted. `sources` are file paths or,
    for `"lines"`, `(path, start, end)` byte ranges from
    `kerasbert.text_files.document_ranges`.
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
