"""Samples made by hand for the unit tests of batching, shared-prompt rows and attention."""

from core.records import Sample


def token_sample(prompt: list[int], response: list[int]) -> Sample:
    """A sample of these prompt and response token ids (one prompt id, flat behaviour log-probs)."""
    return Sample("id", "p", "", prompt, response, "", [0.0] * len(response), "stop", 0, 0, 0)
