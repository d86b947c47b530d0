"""Raw text files: a large "lines" file read a range at a time is the file."""

import random

from kerasbert.data.text_corpus import read_file
from kerasbert.text_files import document_ranges

# Lines that test where a document ends: blank by str.strip() but not by
# bytes.strip() (U+3000), a form feed and U+2028 (line breaks to
# str.splitlines), a lone carriage return, invalid UTF-8.
LINES = [
    b"The first sentence.",
    b"Another one",
    b"",
    b"  \t",
    b"\xe3\x80\x80",
    b"x\x0cy",
    b"\x0c",
    b"a\xe2\x80\xa8b",
    b"\r",
    b"bad \xff byte",
    b"caf\xc3\xa9",
]


def read_in_ranges(path, range_bytes):
    ranges = document_ranges(str(path), range_bytes)
    results = [read_file(source, "lines", "en") for source in ranges]
    documents = [document for range_documents, _ in results for document in range_documents]
    stats = sum((range_stats for _, range_stats in results), start=type(results[0][1])())
    return ranges, documents, stats


def assert_read_as_one(path, range_bytes):
    size = path.stat().st_size
    ranges, documents, stats = read_in_ranges(path, range_bytes)
    whole_documents, whole_stats = read_file(str(path), "lines", "en")
    assert documents == whole_documents
    assert stats == whole_stats
    starts = [start for _, start, _ in ranges]
    ends = [end for _, _, end in ranges]
    assert starts[0] == 0 and ends[-1] is None and starts[1:] == ends[:-1]
    assert all(end - start >= range_bytes for start, end in zip(starts, ends[:-1]))
    assert all(start < size for start in starts)
    return ranges


def test_ranges_of_random_files_hold_the_files_documents(tmp_path):
    rng = random.Random(0)
    cut_files = 0
    for i in range(60):
        ending = rng.choice([b"\n", b"\r\n"])
        data = ending.join(rng.choice(LINES) for _ in range(rng.randrange(1, 80)))
        if rng.random() < 0.5:
            data += ending
        path = tmp_path / f"{i}.txt"
        path.write_bytes(data)
        for range_bytes in (1, 7, 40, len(data) // 2 + 1, len(data) + 1):
            ranges = assert_read_as_one(path, range_bytes)
            cut_files += len(ranges) > 1
    assert cut_files > 100  # most files were cut


def test_every_range_holds_text_and_the_file_is_counted_once(tmp_path):
    path = tmp_path / "corpus.txt"
    documents = [[f"Sentence {d}.{s} of the corpus." for s in range(3)] for d in range(200)]
    path.write_text("\n\n\n" + "\n\n".join("\n".join(document) for document in documents) + "\n\n\n")
    ranges = assert_read_as_one(path, 500)
    assert len(ranges) > 20
    for source in ranges:
        range_documents, stats = read_file(source, "lines", "en")
        assert range_documents and not stats["empty_documents"]
    assert read_in_ranges(path, 500)[2]["files"] == 1


def test_a_file_without_a_place_to_cut_is_one_range(tmp_path):
    one_document = tmp_path / "one.txt"
    one_document.write_text("\n".join(f"Sentence {i}." for i in range(1000)))
    assert document_ranges(str(one_document), 100) == [(str(one_document), 0, None)]
    blank = tmp_path / "blank.txt"
    blank.write_text("\n \n\t\n" * 100)
    assert document_ranges(str(blank), 10) == [(str(blank), 0, None)]
    documents, stats = read_file(document_ranges(str(blank), 10)[0], "lines", "en")
    assert documents == [] and stats["empty_documents"] == 1 and stats["files"] == 1
