"""A checkpoint's model card: README.md in the form the Hugging Face Hub shows (YAML metadata, then text), so a
checkpoint folder can be published as it is."""

from __future__ import annotations

from core.config import RunConfig
from loop.state import LoopState

COLUMNS = (("eval_reward", "held-out reward"), ("kl_to_initial", "KL to initial"),
           ("win_rate_vs_previous", "win rate vs previous"), ("guard", "guard"), ("gold", "gold"),
           ("judge_agreement", "judge agreement"))


def model_card(cfg: RunConfig, state: LoopState) -> str:
    """The card of the checkpoint taken after state.iteration: what it was trained from, how, on what, and the
    held-out metrics of every evaluation up to it."""
    lora = cfg.model.lora
    tags = ["una-align", "rlhf", cfg.algorithm.name, f"feedback-{cfg.reward.kind}"] + (["lora"] if lora.enabled else [])
    tiny = cfg.model.tiny
    base = cfg.model.path or (f"the tiny Llama built locally from model.tiny (hidden {tiny.hidden_size}, "
                              f"{tiny.num_layers} layers, seed {tiny.seed})")
    lines = ["---", "library_name: transformers", "tags:", *[f"- {tag}" for tag in tags], "---", "",
             f"# {cfg.algorithm.name} policy, iteration {state.iteration}", "",
             "Trained with una-align: online or iterative alignment with feedback on Ray, vLLM and DeepSpeed.", "",
             f"- Base model: {base}",
             f"- Algorithm: {_algorithm(cfg)}",
             f"- Feedback source: reward.kind {cfg.reward.kind}" + (f" ({cfg.reward.function})" if cfg.reward.function else ""),
             f"- Data: {cfg.data.source} ({cfg.data.prompt_field} field), {cfg.train.prompts_per_step} prompts x "
             f"{cfg.rollout.samples_per_prompt} samples a step, train.mode {cfg.train.mode}",
             f"- Trained: {state.iteration} iterations, {state.step} steps, {state.updates} optimizer updates, "
             f"policy version {state.policy_version}, seed {cfg.train.seed}",
             f"- Precision: learner.compute_dtype {cfg.learner.compute_dtype} (float32 weights and optimizer), rollout "
             f"engines model.dtype {cfg.model.dtype}; the weights here are float32"]
    if lora.enabled:
        lines.append(f"- LoRA: rank {lora.rank}, alpha {lora.alpha:g}, targets {', '.join(lora.target_modules)}; this "
                     "folder holds the base with the adapter merged in, and the adapter alone in adapter/")
    lines += ["", "## Held-out metrics", "", *_metrics_table(state), "",
              "Each row is the evaluation after that iteration on the held-out prompts (iteration 0: before "
              "training). The run's summary.json, report.md and records/ say more.", ""]
    return "\n".join(lines)


def _algorithm(cfg: RunConfig) -> str:
    algorithm = cfg.algorithm
    feedback = f" ({algorithm.feedback} feedback)" if algorithm.name == "una" else ""
    return f"{algorithm.name}{feedback}, beta {algorithm.beta:g}, learner.lr {cfg.learner.lr:g}"


def _metrics_table(state: LoopState) -> list[str]:
    shown = [(key, title) for key, title in COLUMNS if any(getattr(row, key) is not None for row in state.rows)]
    lines = ["| iteration | " + " | ".join(title for _, title in shown) + " |",
             "|---|" + "---|" * len(shown)]
    for row in state.rows:
        values = [getattr(row, key) for key, _ in shown]
        lines.append(f"| {row.iteration} | " + " | ".join("" if v is None else f"{v:.4g}" for v in values) + " |")
    return lines
