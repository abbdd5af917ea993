import json

from core.config import RunConfig
from loop.report import write_report


def test_report_and_curves_from_a_run_folder(tmp_path):
    metrics = [{"step": s, "train/reward_mean": 0.1 * s, "train/loss": 1.0 / s, "iteration": 1} for s in range(1, 5)]
    metrics += [{"step": 0, "eval/reward_mean": 0.1, "eval/kl_to_initial": 0.0, "iteration": 0},
                {"step": 4, "eval/reward_mean": 0.3, "eval/kl_to_initial": 2.0, "eval/win_rate_vs_previous": 0.8,
                 "eval/gold": 0.6, "eval/gold_greedy": 0.7, "iteration": 1}]
    (tmp_path / "metrics.jsonl").write_text("\n".join(json.dumps(m) for m in metrics))
    summary = {
        "config": RunConfig().to_dict(), "stop_reason": "plateau", "stop_detail": "no new best for 1 iteration",
        "iterations": [{"iteration": 0, "eval_reward": 0.1, "kl_to_initial": 0.0, "win_rate_vs_previous": None,
                        "train_samples": 0, "seconds": 0.0},
                       {"iteration": 1, "eval_reward": 0.3, "kl_to_initial": 2.0, "win_rate_vs_previous": 0.8,
                        "train_samples": 256, "seconds": 3.5, "guard": 0.75, "gold": 0.6, "gold_greedy": 0.7}],
        "phase_seconds": {"generate": 1.0}, "abstentions": 2, "skipped_prompts": {}, "prompts_dropped_for_ties": 0,
    }
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    report = write_report(tmp_path).read_text()
    assert "Stopped: **plateau**: no new best for 1 iteration" in report
    assert "| 1 | 0.3000 | 2.000 | 0.800 | 0.750 | 0.600 | 0.700 | 256 | 3.5 |" in report
    assert "| 0 | 0.1000 | 0.000 |  |  |  |  | 0 | 0.0 |" in report  # no win rate before training; no guard, no gold
    assert "Abstentions: 2" in report
    assert (tmp_path / "curves.png").stat().st_size > 10_000


def test_a_measured_judge_gets_its_table_and_panel(tmp_path):
    judged = {"eval/judge_agreement": 0.75, "eval/judge_position_consistency": 0.5, "eval/judge_length_preference": 0.6}
    metrics = [{"step": 1, "train/reward_mean": 0.1, "train/loss": 1.0, "iteration": 1},
               {"step": 0, "eval/reward_mean": 0.1, "eval/kl_to_initial": 0.0, "iteration": 0, **judged},
               {"step": 1, "eval/reward_mean": 0.2, "eval/kl_to_initial": 1.0, "iteration": 1, **judged}]
    (tmp_path / "metrics.jsonl").write_text("\n".join(json.dumps(m) for m in metrics))
    config = RunConfig().to_dict()
    config["evaluation"]["judge_pairs"] = "pairs.jsonl"
    rows = [{"iteration": i, "eval_reward": 0.1, "kl_to_initial": 0.0, "train_samples": 0, "seconds": 0.0,
             "judge_agreement": 0.75, "judge_position_consistency": None if i else 0.5, "judge_length_preference": 0.6}
            for i in (0, 1)]
    summary = {"config": config, "stop_reason": "iteration_limit", "stop_detail": "", "iterations": rows,
               "phase_seconds": {}, "abstentions": 0, "skipped_prompts": {}}
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    report = write_report(tmp_path).read_text()
    assert "labelled pairs of evaluation.judge_pairs (pairs.jsonl)" in report
    assert "| 0 | 0.750 | 0.500 | 0.600 |" in report and "| 1 | 0.750 |  | 0.600 |" in report
    without = tmp_path / "without"
    without.mkdir()
    (without / "metrics.jsonl").write_text("\n".join(json.dumps({k: v for k, v in m.items() if k not in judged})
                                                     for m in metrics))
    (without / "summary.json").write_text(json.dumps(summary | {"iterations": [dict(r, judge_agreement=None) for r in rows]}))
    assert "judge_pairs" not in write_report(without).read_text()
    from PIL import Image

    assert Image.open(tmp_path / "curves.png").size[0] > Image.open(without / "curves.png").size[0]  # one more column
