"""The remote reward endpoint against small HTTP servers on 127.0.0.1 that the test starts."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from core.records import Sample
from rewards.remote import RemoteReward, RemoteRewardError


def _serve(handler_body):
    class Handler(BaseHTTPRequestHandler):
        calls = 0

        def do_POST(self):  # noqa: N802 - the http.server API
            Handler.calls += 1
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            status, answer = handler_body(request)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, Handler, f"http://127.0.0.1:{server.server_address[1]}/score"


def _samples(texts):
    return [Sample(f"s{i}", "p", "prompt", [1], [2], t, [0.0], "stop", 0, 0, 0) for i, t in enumerate(texts)]


def test_scores_and_abstentions_from_the_endpoint():
    server, _, url = _serve(lambda req: (200, {"scores": [len(s["response"]) if s["response"] != "?" else None
                                                          for s in req["samples"]]}))
    try:
        feedback = RemoteReward(url, timeout_s=5, retries=0).score(_samples(["ab", "?", "abcd"]))
    finally:
        server.shutdown()
    assert [f.value for f in feedback] == [2.0, None, 4.0]
    assert feedback[1].raw == "endpoint abstained (null)"


def test_a_slow_endpoint_times_out_with_bounded_retries():
    def slow(req):
        time.sleep(2)
        return 200, {"scores": [1.0] * len(req["samples"])}

    server, handler, url = _serve(slow)
    started = time.perf_counter()
    try:
        with pytest.raises(RemoteRewardError, match=r"failed 2 times \(timeout 0.3 s each\)"):
            RemoteReward(url, timeout_s=0.3, retries=1).score(_samples(["a"]))
    finally:
        server.shutdown()
    assert handler.calls == 2
    assert time.perf_counter() - started < 5


def test_a_down_endpoint_and_a_wrong_answer_are_errors_naming_it():
    server, _, url = _serve(lambda req: (200, {"scores": [1.0]}))
    try:
        with pytest.raises(RemoteRewardError, match="answered 1 scores for 2 samples"):
            RemoteReward(url, timeout_s=5, retries=0).score(_samples(["a", "b"]))
    finally:
        server.shutdown()
        server.server_close()
    with pytest.raises(RemoteRewardError, match=f"reward endpoint {url} failed 1 times"):
        RemoteReward(url, timeout_s=1, retries=0).score(_samples(["a"]))
    with pytest.raises(ValueError, match="http:// or https://"):
        RemoteReward("ftp://x", 1, 0)


def test_an_answer_that_is_not_a_json_object_is_an_error_naming_the_endpoint():
    server, _, url = _serve(lambda req: (200, [1.0] * len(req["samples"])))
    try:
        with pytest.raises(RemoteRewardError, match=f"reward endpoint {url} answered list .*expected a JSON object"):
            RemoteReward(url, timeout_s=5, retries=0).score(_samples(["a", "b"]))
    finally:
        server.shutdown()
        server.server_close()
