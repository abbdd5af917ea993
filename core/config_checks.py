"""Config keys that are each valid but do not work together, refused with a message naming them and the fix
(load_config runs these after every key passed its own type and range checks)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.config_schema import ConfigError

if TYPE_CHECKING:
    from core.config import RunConfig


def check_combinations(cfg: RunConfig, source: str) -> None:
    """Keys that are each valid but do not work together."""
    if cfg.reward.kind == "exact_match" and not cfg.data.answer_field:
        raise ConfigError(f"{source}: reward.kind exact_match compares with a reference answer; set data.answer_field "
                          "to the data's answer column")
    if len(cfg.learner.adam_betas) != 2:
        raise ConfigError(f"{source}: learner.adam_betas is AdamW's two betas, e.g. [0.9, 0.999]; got {cfg.learner.adam_betas}")
    _check_algorithm(cfg, source)
    _check_lora(cfg, source)
    _check_reference_engine(cfg, source)
    if cfg.learner.compile and cfg.learner.zero_stage == 3:
        raise ConfigError(f"{source}: learner.compile is not built for learner.zero_stage 3 (ZeRO-3 gathers each "
                          "layer's weights inside the forward pass, which torch.compile would have to trace); set "
                          "learner.zero_stage 2, or learner.compile false")
    if "jsonl" not in cfg.logging.trackers:
        raise ConfigError(f"{source}: logging.trackers must include jsonl: the run's report, curves and resume read "
                          f"metrics.jsonl (got {cfg.logging.trackers}); add the others beside it")
    arithmetic_used = cfg.data.source == "arithmetic" or cfg.stopping.guard == "arithmetic"
    if arithmetic_used and not cfg.model.path and "arithmetic" not in cfg.model.tiny.skills:
        raise ConfigError(f"{source}: the arithmetic task needs a tokenizer that covers sums; add arithmetic to "
                          "model.tiny.skills (see configs/lab/task_a.yaml)")
    for key, tiny in (("model.tiny", cfg.model.tiny), ("reward.judge.tiny", cfg.reward.judge.tiny)):
        _check_warm_start_checks(source, key, tiny)
    if cfg.evaluation.gold == "exact_match" and not cfg.data.answer_field:
        raise ConfigError(f"{source}: evaluation.gold exact_match compares with a reference answer; set "
                          "data.answer_field to the data's answer column")
    if cfg.reward.kind == "exact_match" and cfg.data.source == "toy":
        raise ConfigError(f"{source}: reward.kind exact_match needs data with answers; the toy task has none "
                          "(set data.source to a .jsonl/.parquet file or datasets folder)")


def _check_reference_engine(cfg: RunConfig, source: str) -> None:
    """A vLLM engine serves the reference as loaded: nothing moves it, and it holds no adapter."""
    if cfg.learner.reference_engine != "vllm":
        return
    if cfg.train.reference_refresh != "never":
        raise ConfigError(f"{source}: learner.reference_engine vllm serves a reference that never moves; "
                          f"train.reference_refresh {cfg.train.reference_refresh} needs learner.reference_engine "
                          "transformers (or set train.reference_refresh never)")
    if cfg.model.lora.enabled:
        raise ConfigError(f"{source}: learner.reference_engine vllm is not built for a LoRA policy (its reference is the "
                          "base with the adapter switched off, or the base with model.lora.adapter_path merged); set "
                          "learner.reference_engine transformers")


def _check_lora(cfg: RunConfig, source: str) -> None:
    """What a LoRA policy cannot be combined with (learner/lora.py checks the model and adapter files)."""
    lora = cfg.model.lora
    if not lora.enabled:
        return
    if cfg.learner.merging != "none":
        raise ConfigError(f"{source}: learner.merging merges full-weight updates with the SFT task vector; with "
                          "model.lora the base is frozen and only the adapter learns: set learner.merging none")
    if lora.serve == "merged" and lora.adapter_path:
        raise ConfigError(f"{source}: model.lora.serve merged starts the engines from model.path alone, not the policy "
                          "model.lora.adapter_path starts from; merge it first (python -m learner.merge_adapter) and "
                          "give the merged folder as model.path, or set model.lora.serve adapter")
    if lora.serve == "merged" and cfg.cluster.weight_transport == "nccl":
        raise ConfigError(f"{source}: model.lora.serve merged is not built for cluster.weight_transport nccl (its sender "
                          "sends the module's own parameters); use model.lora.serve adapter, or weight_transport ray")
    if not lora.target_modules:
        raise ConfigError(f"{source}: model.lora.target_modules is empty; name the layers (e.g. [q_proj, v_proj]) "
                          "or use [all-linear]")
    if lora.reference != "adapter_disabled":
        return
    if cfg.train.reference_refresh != "never":
        raise ConfigError(f"{source}: model.lora.reference adapter_disabled is the frozen base and cannot follow "
                          f"train.reference_refresh {cfg.train.reference_refresh}; set model.lora.reference separate")
    if lora.adapter_path:
        raise ConfigError(f"{source}: model.lora.reference adapter_disabled scores with the base weights alone, not "
                          "the policy model.lora.adapter_path starts from; set model.lora.reference separate")
    if cfg.learner.zero_stage == 3 and cfg.cluster.learner.count > 1:
        raise ConfigError(f"{source}: model.lora.reference adapter_disabled is scored by learner rank 0 alone, which "
                          "ZeRO-3 cannot do with several ranks (each holds a part of the weights); set "
                          "model.lora.reference separate, or learner.zero_stage 2")


def _check_algorithm(cfg: RunConfig, source: str) -> None:
    """What the algorithm's registry entry needs of the config; settings under which no update can ever change
    the policy are refused, not run to a silent exit 0."""
    from learner.algorithms import lookup

    algorithm = cfg.algorithm
    try:
        entry = lookup(algorithm)
    except ValueError as err:
        raise ConfigError(f"{source}: {err}") from None
    if cfg.learner.merging != "none" and not entry.single_update:
        raise ConfigError(f"{source}: learner.merging works with the single-update algorithms (not {algorithm.name}, "
                          "which makes several optimizer steps per batch)")
    if algorithm.beta <= 0 and entry.uses_beta:
        raise ConfigError(f"{source}: algorithm.beta must be positive for {algorithm.name} (its loss is a function of "
                          f"beta x the log-ratio; 0 gives no gradient); got {algorithm.beta}")
    if cfg.rollout.samples_per_prompt < 2 and entry.compares_samples:
        raise ConfigError(f"{source}: {algorithm.name} compares the samples of a prompt; set rollout.samples_per_prompt "
                          f"to 2 or more (got {cfg.rollout.samples_per_prompt})")


def _check_warm_start_checks(source: str, key: str, tiny) -> None:
    """A held-out check of the warm start needs the skill it checks and steps left to train to."""
    for until, skill, what in (("sft_until_accuracy", "arithmetic", "held-out sums"),
                               ("sft_until_judge_agreement", "judging", "judging")):
        if getattr(tiny, until) and (skill not in tiny.skills or tiny.sft_max_steps <= tiny.sft_steps):
            raise ConfigError(f"{source}: {key}.{until} checks the warm start's {what}: it needs {skill} in {key}.skills "
                              f"and {key}.sft_max_steps above {key}.sft_steps (got skills {tiny.skills}, sft_steps "
                              f"{tiny.sft_steps}, sft_max_steps {tiny.sft_max_steps})")
