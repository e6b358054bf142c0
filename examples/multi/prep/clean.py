"""Lower-case the texts and drop rows with fewer than --min-words words."""
import argparse
import csv

parser = argparse.ArgumentParser()
parser.add_argument("src")
parser.add_argument("dst")
parser.add_argument("--min-words", type=int, default=1)
args = parser.parse_args()

with open(args.src, newline="") as f:
    rows = [r for r in csv.DictReader(f) if len(r["text"].split()) >= args.min_words]
with open(args.dst, "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=["text", "label"])
    writer.writeheader()
    for r in rows:
        writer.writerow({"text": r["text"].lower(), "label": r["label"]})
print(f"kept {len(rows)} rows")
