"""A remote reward endpoint over HTTP: POST the batch, get one score (or null to abstain) per sample.

Request:  {"samples": [{"sample_id": ..., "prompt": ..., "response": ...}, ...]}
Response: {"scores": [float | null, ...]}  (same order and length)
Every request has a timeout and a bounded number of retries; when the endpoint stays down the run stops
with an error naming it, so that no sample ever gets a made-up reward.
"""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.request

from core.records import Feedback, Sample


class RemoteRewardError(RuntimeError):
    pass


class RemoteReward:
    def __init__(self, url: str, timeout_s: float, retries: int):
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"reward.url must be an http:// or https:// address, got {url!r}")
        self.url, self.timeout_s, self.retries = url, timeout_s, retries
        self.name = f"remote[{url}]"

    def score(self, samples: list[Sample]) -> list[Feedback]:
        payload = {"samples": [{"sample_id": s.sample_id, "prompt": s.prompt_text, "response": s.response_text}
                               for s in samples]}
        answer = self._post(payload)
        if not isinstance(answer, dict):
            raise RemoteRewardError(f"reward endpoint {self.url} answered {type(answer).__name__} {str(answer)[:80]}; "
                                    'expected a JSON object {"scores": [...]}')
        scores = answer.get("scores")
        if not isinstance(scores, list) or len(scores) != len(samples):
            got = len(scores) if isinstance(scores, list) else repr(scores)
            raise RemoteRewardError(f"reward endpoint {self.url} answered {got} scores for {len(samples)} samples; "
                                    "expected a list 'scores' of that length")
        return [self._feedback(sample, value) for sample, value in zip(samples, scores)]

    def _feedback(self, sample: Sample, value) -> Feedback:
        if value is None:
            return Feedback(sample.sample_id, "score", None, self.name, raw="endpoint abstained (null)")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return Feedback(sample.sample_id, "score", None, self.name, raw=f"endpoint returned {value!r}")
        return Feedback(sample.sample_id, "score", float(value), self.name)

    def _post(self, payload: dict) -> dict:
        body = json.dumps(payload).encode()
        last_error: Exception | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(min(0.5 * 2 ** (attempt - 1), 5.0))
            request = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    return json.loads(response.read())
            except (urllib.error.URLError, TimeoutError, ConnectionError, json.JSONDecodeError) as err:
                last_error = err
        raise RemoteRewardError(f"reward endpoint {self.url} failed {self.retries + 1} times "
                                f"(timeout {self.timeout_s} s each); last error: {last_error}")
