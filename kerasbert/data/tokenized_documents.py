"""A tokenized corpus that forked processes share."""


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
