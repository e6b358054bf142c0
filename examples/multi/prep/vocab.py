"""Write one file per label with the words seen for it (a directory output)."""
import collections
import csv
import pathlib
import sys

src, dst = sys.argv[1], pathlib.Path(sys.argv[2])
words: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
with open(src, newline="") as f:
    for r in csv.DictReader(f):
        words[r["label"]].update(r["text"].split())
dst.mkdir(exist_ok=True)
for label, counts in sorted(words.items()):
    (dst / f"label_{label}.txt").write_text("".join(f"{w} {n}\n" for w, n in sorted(counts.items())))
