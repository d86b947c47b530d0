"""BERT `vocab.txt` files: learning one from raw text, reading one safely."""

import logging
import os
import time

import tensorflow as tf

from kerasbert.io_utils import expand_globs, write_text
from kerasbert.text_files import decode_text_file, document_ranges
from kerasbert.text.basic_tokenization import SPECIAL_TOKENS

READ_RANGE_BYTES = 64 << 20  # of a text file held in memory at a time


def read_vocab(vocab_file):
    """Returns the pieces of a BERT `vocab.txt` (line number = id).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: not UTF-8, an empty or repeated piece, or a missing
            special token; the message names the file and what is wrong.
    """
    vocab_file = os.fspath(vocab_file)
    if not tf.io.gfile.exists(vocab_file) or tf.io.gfile.isdir(vocab_file):
        raise FileNotFoundError(f"{vocab_file}: vocabulary file not found")
    with tf.io.gfile.GFile(vocab_file, "rb") as f:  # local or gs://
        data = f.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{vocab_file}: not UTF-8 ({e})") from e
    pieces = text.split("\n")
    if pieces and pieces[-1] == "":
        pieces.pop()
    seen = {}
    for line, piece in enumerate(pieces, start=1):
        if not piece:
            raise ValueError(f"{vocab_file}: line {line} is empty")
        if piece in seen:
            raise ValueError(f"{vocab_file}: {piece!r} on line {line} repeats line {seen[piece]}")
        seen[piece] = line
    missing = [t for t in SPECIAL_TOKENS if t not in seen]
    if missing:
        raise ValueError(f"{vocab_file}: vocabulary lacks special tokens {missing}")
    return pieces


def is_uncased(pieces):
    """Whether a vocabulary was made from lower-cased text: no piece other
    than the bracketed special ones holds an upper-case letter."""
    return not any(
        piece != piece.lower() for piece in pieces if not (piece[0] == "[" and piece[-1] == "]")
    )


def read_text_files(files, stats):
    """Yields the non-blank lines of `files`, decoding invalid UTF-8 as
    U+FFFD and counting in `stats` the files, lines and replaced bytes. A
    large file is read a range at a time.

    Raises:
        ValueError: a file looks binary.
    """
    for path in files:
        for _, start, end in document_ranges(path, READ_RANGE_BYTES):
            for line in decode_text_file(path, stats, start, end).splitlines():
                if line.strip():
                    stats["lines"] += 1
                    yield line


def build_vocab(
    files,
    vocab_size=30522,
    lower_case=True,
    output_file="vocab.txt",
    reserved_unused=99,
    min_frequency=1,
    limit_alphabet=1000,
    show_progress=True,
):
    """Learns a WordPiece vocabulary and writes it as a BERT `vocab.txt`.

    Layout as Google's: [PAD], `reserved_unused` [unusedN] pieces, [UNK],
    [CLS], [SEP], [MASK] (so with the default 99 they get Google's ids
    100-103), then the learned pieces, `##` marking continuations. Training
    uses Hugging Face `tokenizers`' WordPiece trainer with BERT's
    normalization, so the pieces fit `WordPieceTokenizer` exactly. That
    trainer is not deterministic: it breaks ties between equally frequent
    merges in hash-map order (huggingface/tokenizers#1794), so two runs on
    one corpus give slightly different vocabularies. Keep the `vocab.txt` a
    model was trained with; do not expect to learn it again.

    Args:
        files: paths or globs (a list, or one comma-separated string).
        vocab_size: total entries including the special ones.
        lower_case: learn an uncased vocabulary (lower-case, strip accents).
        output_file: where to write; written atomically.
        reserved_unused: number of [unusedN] placeholders after [PAD].
        min_frequency: pieces seen fewer times are not merged.
        limit_alphabet: most frequent characters kept as initial pieces.
        show_progress: show the trainer's progress bar.

    Returns:
        A dict of statistics: `files`, `lines`, `replaced_characters`,
        `vocab_size` (may be below the request on a tiny corpus), `seconds`.
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    started = time.time()
    paths = expand_globs(files)
    special = (
        ["[PAD]"] + [f"[unused{i}]" for i in range(reserved_unused)] + list(SPECIAL_TOKENS[1:])
    )
    if vocab_size <= len(special):
        raise ValueError(f"build_vocab: vocab_size={vocab_size} leaves no room for pieces")
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=lower_case, lowercase=lower_case
    )
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=special,
        limit_alphabet=limit_alphabet,
        continuing_subword_prefix="##",
        show_progress=show_progress,
    )
    stats = {"files": 0, "lines": 0, "replaced_characters": 0}
    tokenizer.train_from_iterator(read_text_files(paths, stats), trainer=trainer)
    vocab = tokenizer.get_vocab()
    pieces = sorted(vocab, key=vocab.get)
    if pieces[: len(special)] != special:
        raise RuntimeError("build_vocab: the trainer did not put the special tokens first")
    if len(pieces) < vocab_size:
        logging.warning(
            "build_vocab: the corpus yields only %d of %d pieces", len(pieces), vocab_size
        )
    os.makedirs(os.path.dirname(os.path.abspath(output_file)), exist_ok=True)
    write_text(output_file, "".join(piece + "\n" for piece in pieces))
    stats.update(vocab_size=len(pieces), seconds=round(time.time() - started, 2))
    return stats
