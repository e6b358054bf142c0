"""Feature helpers shared by the training stage (part of its code fingerprint)."""


def tokenize(text: str) -> list[str]:
    return text.lower().split()
