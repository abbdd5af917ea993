"""What a run printed: the lines that are a library's warnings rather than our own log lines."""

import re

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_OURS = re.compile(r"\d{4}-\d\d-\d\d [\d:,]+ (INFO|WARNING|ERROR) (launch|loop|actors|learner|rewards|core|models|tasks)[.:]")


def third_party_warnings(output: str) -> list[str]:
    lines = (_ANSI.sub("", line) for line in output.splitlines())
    return [line for line in lines if re.search(r"warn", line, re.IGNORECASE) and not _OURS.search(line)]
