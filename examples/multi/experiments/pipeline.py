"""A pipeline declared in Python. It also has a stage called `train`, like the train pipeline: under `--all`
this pipeline comes first (directory order), so its stage keeps the bare name `train` and the other one is
shown as `train/train`; from inside train/ it is the other way round. Each keeps its own lock file."""
import json

from helpers import load_model, top_words

from pivot_ci import Pipeline

pipeline = Pipeline("experiments")


@pipeline.stage(deps=["../train/model.json"], outs=["top_words.json"], params={"n": 3})  # helpers.py: fingerprinted
def train(n: int) -> None:
    model = load_model("../train/model.json")
    result = {label: top_words(lk, n) for label, lk in model["likelihoods"].items()}
    with open("top_words.json", "w") as f:
        json.dump(result, f, indent=1, sort_keys=True)


pipeline.command(
    "summarize",
    cmd="python -c \"import json; print(json.dumps(json.load(open('top_words.json'))))\" > summary.txt",
    deps=["top_words.json"],
    outs=["summary.txt"],
)
