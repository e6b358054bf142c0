"""Score the model on the cleaned data: a metric (uncached output, committed in its lock)."""
import csv
import json
import math
import sys

model = json.load(open(sys.argv[1]))
correct = total = 0
with open("../prep/clean.csv", newline="") as f:
    for row in csv.DictReader(f):
        scores = {
            label: math.log(prior) + sum(math.log(model["likelihoods"][label].get(w, 1e-3)) for w in row["text"].split())
            for label, prior in model["priors"].items()
        }
        correct += max(scores, key=scores.__getitem__) == row["label"]
        total += 1
json.dump({"accuracy": correct / total, "rows": total}, open(sys.argv[2], "w"), indent=1)
