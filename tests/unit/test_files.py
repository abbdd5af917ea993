import json

import pytest

from core.files import write_text_atomic


def test_a_failed_write_leaves_the_old_file_whole(tmp_path, monkeypatch):
    path = tmp_path / "summary.json"
    write_text_atomic(path, '{"stop_reason": "iteration_limit"}')

    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.fsync", full_disk)
    with pytest.raises(OSError, match="No space left"):
        write_text_atomic(path, '{"stop_reason": "interrupted", "iterations": [')
    assert json.loads(path.read_text()) == {"stop_reason": "iteration_limit"}
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]  # no temporary file left behind


def test_report_of_a_broken_summary_says_what_is_wrong(tmp_path):
    from loop.report import main

    (tmp_path / "summary.json").write_text("")
    with pytest.raises(SystemExit, match="is not valid JSON"):
        main([str(tmp_path)])
    with pytest.raises(SystemExit, match="does not exist"):
        main([str(tmp_path / "nothing")])


def test_merge_models_refuses_an_out_path_that_is_a_file(tmp_path, capsys):
    from learner.merge_models import main

    taken = tmp_path / "model.safetensors"
    taken.write_text("x")
    with pytest.raises(SystemExit):
        main(["--base", "b", "--sft", "s", "--aligned", "a", "--out", str(taken)])
    assert "is a file" in capsys.readouterr().err and taken.read_text() == "x"
