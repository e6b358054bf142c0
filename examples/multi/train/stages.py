"""Python stages of the train pipeline: a tiny naive-Bayes word model."""
import collections
import csv
import json

from features import tokenize


def train(smoothing: float) -> None:
    """Count words per label and write priors and likelihoods."""
    counts: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    labels: collections.Counter[str] = collections.Counter()
    with open("../prep/clean.csv", newline="") as f:
        for row in csv.DictReader(f):
            labels[row["label"]] += 1
            counts[row["label"]].update(tokenize(row["text"]))
    total = sum(labels.values())
    model = {
        "priors": {k: v / total for k, v in sorted(labels.items())},
        "likelihoods": {
            k: {w: (n + smoothing) / (sum(c.values()) + smoothing) for w, n in sorted(c.items())}
            for k, c in sorted(counts.items())
        },
    }
    with open("model.json", "w") as f:
        json.dump(model, f, indent=1, sort_keys=True)
