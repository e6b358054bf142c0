"""Helpers of the experiments pipeline (its own sibling module, not train/'s)."""
import json


def load_model(path: str) -> dict[str, dict[str, float]]:
    with open(path) as f:
        return json.load(f)


def top_words(likelihoods: dict[str, float], n: int) -> list[str]:
    return [w for w, _ in sorted(likelihoods.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]
