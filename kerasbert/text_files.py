"""Raw text files: decoded with a count of invalid UTF-8, refused when
binary, and cut between documents so that a large one is read in parts."""

import logging
import os

# A file is taken for binary when it holds NUL bytes or this share of bytes
# is not valid UTF-8.
BINARY_REPLACED_SHARE = 0.1


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
        # Decoded, so that a blank line is what the readers (str.strip) take for one.
        if line.decode("utf-8", errors="replace").strip():
            if blank_after_text:
                return position
            text_seen = True
        else:
            blank_after_text = text_seen
