"""A tokenized corpus that forked processes share."""

import numpy as np


class TokenizedDocuments:
    """A tokenized corpus in flat arrays, read as a list of documents, each a
    list of sentences, each a sequence of ids (a `memoryview` of the flat
    ids, which iterates as ints).

    Lists of lists of ints cost ~3 times the text in memory, and every
    forked worker copies the pages it reads them from, since reading an
    object writes its reference count. Flat arrays take 4 bytes a token and
    stay shared.

    Args:
        ids: every token id, int32, sentence after sentence.
        sentence_starts: where each sentence starts in `ids`, then the end.
        document_starts: where each document starts in the sentences, then
            the end.
        order: the documents' order (default: as given); shuffle it in place.

    Example:

    >>> documents = TokenizedDocuments(
    ...     np.array([7, 8, 9, 4, 5], np.int32), np.array([0, 2, 3, 5]), np.array([0, 2, 3])
    ... )
    >>> [[list(sentence) for sentence in document] for document in documents]
    [[[7, 8], [9]], [[4, 5]]]
    """

    def __init__(self, ids, sentence_starts, document_starts, order=None):
        self.ids = ids
        self.sentence_starts = sentence_starts
        self.document_starts = document_starts
        self.order = list(range(len(document_starts) - 1)) if order is None else order
        self._ids = memoryview(ids)
        self._sentence_starts = memoryview(sentence_starts)
        self._document_starts = memoryview(document_starts)

    def __len__(self):
        return len(self.order)

    def __getitem__(self, index):
        document = self.order[index]
        bounds = self._sentence_starts[self._document_starts[document] : self._document_starts[document + 1] + 1]
        bounds = bounds.tolist()
        return [self._ids[begin:end] for begin, end in zip(bounds[:-1], bounds[1:])]

    @classmethod
    def concatenate(cls, pieces):
        """One corpus of the pieces' documents, in the pieces' orders."""
        if len(pieces) == 1:
            return pieces[0]
        tokens = np.cumsum([0] + [len(piece.ids) for piece in pieces])
        sentences = np.cumsum([0] + [len(piece.sentence_starts) - 1 for piece in pieces])
        documents = np.cumsum([0] + [len(piece) for piece in pieces]).tolist()  # plain ints for `order`
        return cls(
            np.concatenate([piece.ids for piece in pieces]),
            np.concatenate([[0]] + [piece.sentence_starts[1:] + start for piece, start in zip(pieces, tokens)]),
            np.concatenate([[0]] + [piece.document_starts[1:] + start for piece, start in zip(pieces, sentences)]),
            [index + start for piece, start in zip(pieces, documents) for index in piece.order],
        )
