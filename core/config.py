"""Typed run configuration: YAML presets and dotted overrides, validated into dataclasses.

The dataclass defaults ARE the embedded default run (`python launch.py` with no arguments);
`configs/default.yaml` spells the same values out for users to copy.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml

from core.config_schema import AT_LEAST_0, AT_LEAST_1, OPEN_SHARE, POSITIVE, SHARE, ConfigError, Range, apply_override, build

__all__ = ["ConfigError"]  # raised by load_config; defined with the schema


@dataclass
class TinyModelConfig:
    """A small Llama-style model and tokenizer built locally (no downloads)."""

    vocab_size: Annotated[int, AT_LEAST_1] = 320  # the tokenizer's vocabulary (trained locally on the task's text)
    hidden_size: Annotated[int, AT_LEAST_1] = 128  # model width
    num_layers: Annotated[int, AT_LEAST_1] = 2  # transformer blocks
    num_heads: Annotated[int, AT_LEAST_1] = 2  # head_dim = hidden_size / num_heads; vLLM's CPU attention needs 64 or more
    intermediate_size: Annotated[int, AT_LEAST_1] = 256  # the MLP's inner width
    max_positions: Annotated[int, AT_LEAST_1] = 256  # the longest sequence (prompt + response) in tokens
    seed: int = 0  # the random initial weights' seed
    # supervised warm start on the toy task (models/tiny_sft.py): the skill the guard watches
    sft_steps: Annotated[int, AT_LEAST_0] = 0
    # the warm start's AdamW learning rate (the lab uses 1e-3: at 3e-3 sums stayed under 5%)
    sft_lr: Annotated[float, POSITIVE] = 3e-3
    sft_l1: Annotated[float, AT_LEAST_0] = 0.0  # L1 penalty on the warm start's change to the weights (PAFT's sparse SFT delta)
    # after sft_steps, keep training (checked every 100 steps) until greedy accuracy on the held-out sums reaches
    # this, at most to sft_max_steps: the step where sums generalise moves with the seed and the CPU (docs/lab.md);
    sft_until_accuracy: Annotated[float, SHARE] = 0.0  # 0 = exactly sft_steps, no check
    # with the judging skill: also until the judge's agreement with the gold reward on held-out pairs (pairwise
    # mode, tasks/judging.py) reaches this; 0 = no judging check
    sft_until_judge_agreement: Annotated[float, SHARE] = 0.0
    sft_max_steps: Annotated[int, AT_LEAST_0] = 0  # the most steps the held-out checks may train to
    # what the tokenizer covers and the warm start teaches: topics (the toy: "X and Y."), and the lab's
    # arithmetic ("what is 47 + 38?" -> "85."), writing (a varied sentence about X and Y; tasks/writing.py) and
    # judging (the judge's prompts answered as the gold reward would: "Score: N", "Preferred: 1"; tasks/judging.py)
    skills: list[Literal["topics", "arithmetic", "writing", "judging"]] = field(default_factory=lambda: ["topics"])
    cache_dir: str = "~/.cache/una_align/tiny_models"  # built models are kept here, one folder per distinct config


@dataclass
class LoraConfig:
    """A LoRA policy (learner/lora.py): the learner trains low-rank adapters on frozen base weights, the
    rollout engines serve them with vLLM's LoRA support, and each push sends the adapter only."""

    enabled: bool = False  # train a LoRA adapter instead of every weight
    rank: Annotated[int, AT_LEAST_1] = 8  # the adapter's rank r
    alpha: Annotated[float, POSITIVE] = 16.0  # the update is scaled by alpha / rank
    dropout: Annotated[float, Range(0, 1, high_open=True)] = 0.0  # dropout on the adapter's input while training
    # module names (e.g. [q_proj, v_proj]) or [all-linear]: every linear layer but the output head (which cannot take one)
    target_modules: list[str] = field(default_factory=lambda: ["all-linear"])
    adapter_path: str = ""  # a PEFT adapter folder to start from (trained on model.path's base); empty: a fresh adapter
    # adapter_disabled: the reference is the base weights with the adapter switched off, computed by the learner
    # (no second model held; the reference cannot move); separate: the reference scorer actor, as without LoRA
    reference: Literal["adapter_disabled", "separate"] = "adapter_disabled"
    # adapter: each push sends the adapter, vLLM serves it (LoRA kernels); merged: each push sends the base with the
    # adapter merged in and vLLM runs it as a plain model (vLLM's CPU LoRA kernels are slow: docs/lora.md, bench/lora.py)
    serve: Literal["adapter", "merged"] = "adapter"

    def pushes_adapter(self) -> bool:
        return self.enabled and self.serve == "adapter"


@dataclass
class ModelConfig:
    """The policy model: a local Hugging Face folder, or the tiny model built here; optionally LoRA."""

    path: str = ""  # a local Hugging Face model folder; empty builds the tiny model below
    tiny: TinyModelConfig = field(default_factory=TinyModelConfig)
    lora: LoraConfig = field(default_factory=LoraConfig)
    # the rollout engines' weights (the learner keeps float32 weights whatever this says); auto: bfloat16 where the
    # engines' hardware computes it natively (GPUs; CPUs with AVX512-BF16 or AMX), else float32 (core/precision.py)
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"


@dataclass
class DataConfig:
    """The prompts: the built-in tasks or your own file, and the held-out split."""

    # "toy" (the toy task's prompts), "arithmetic" (the lab's sums, answers in the field "answer"), or a
    # .jsonl/.parquet file or a saved `datasets` folder
    source: str = "toy"
    prompt_field: str = "prompt"  # plain text, or a list of chat messages rendered with the chat template
    answer_field: str = ""  # a reference answer per prompt, for reward.kind exact_match and 3-argument functions
    train_split: str = "train"  # for a saved DatasetDict folder
    eval_split: str = ""  # held-out split name (a DatasetDict split, or a second file); empty: eval_fraction
    eval_fraction: float = 0.1  # the share of prompts held out when there is no eval_split
    max_prompt_tokens: Annotated[int, AT_LEAST_1] = 64  # longer prompts are skipped and counted
    toy_train_prompts: Annotated[int, AT_LEAST_1] = 512  # the built-in tasks' (toy, arithmetic) training prompts
    toy_eval_prompts: Annotated[int, AT_LEAST_1] = 32  # and held-out prompts


@dataclass
class RolloutConfig:
    """Sampling by the vLLM rollout engines."""

    samples_per_prompt: Annotated[int, AT_LEAST_1] = 4  # responses sampled per prompt each step
    max_new_tokens: Annotated[int, AT_LEAST_1] = 32  # the longest response
    temperature: Annotated[float, AT_LEAST_0] = 1.0  # sampling temperature
    top_p: Annotated[float, OPEN_SHARE] = 1.0  # nucleus sampling's share
    gpu_memory_utilization: Annotated[float, OPEN_SHARE] = 0.2  # on the CPU build: the share of the NUMA node's memory
    kv_cache_gib: Annotated[int, AT_LEAST_1] = 1  # VLLM_CPU_KVCACHE_SPACE for the CPU build
    # no CUDA graphs / torch compilation in vLLM: a faster start; false: on CPUs 15-30 s more to start, then
    # 25M generation 1.2x faster in float32 and 1.3x in bfloat16 (bench/generation.py); docs/throughput.md
    enforce_eager: bool = True
    # vLLM's engine core in a process of its own (vLLM's default; on GPUs it schedules while the model computes);
    # false: in the rollout actor's process (on CPUs it starts about 25 s sooner and generates as fast)
    separate_engine_process: bool = False


@dataclass
class JudgeConfig:
    """An LLM judge (rewards/judge.py): the policy itself (reward.kind self_judge) or a separate model on its
    own vLLM actor (reward.kind llm_judge, RLAIF)."""

    # direct: probability-weighted mean of the score digits 0-5 after "Score:"; pointwise: sample replies and
    # parse "Score: N" (unparsed replies abstain); pairwise: P("1") against P("2"), both orders, averaged
    mode: Literal["direct", "pointwise", "pairwise"] = "direct"
    model_path: str = ""  # llm_judge: a local causal-LM folder; empty builds the tiny judge below
    # llm_judge without model_path: a tiny model built like model.tiny (random unless it has sft_steps; the lab's
    # judges are warm-started with the judging skill, configs/lab/rlaif.yaml); its context is raised to fit the
    # judge's prompts and replies
    tiny: TinyModelConfig = field(default_factory=lambda: TinyModelConfig(seed=1))
    templates: str = ""  # a YAML file of prompt templates (see configs/judge_templates.yaml, the default)
    samples: Annotated[int, AT_LEAST_1] = 3  # pointwise: replies sampled per response; the parsed scores are averaged
    temperature: Annotated[float, AT_LEAST_0] = 0.7  # pointwise sampling
    top_p: Annotated[float, OPEN_SHARE] = 0.9  # pointwise sampling's nucleus share
    max_new_tokens: Annotated[int, AT_LEAST_1] = 24  # pointwise: reply length
    max_prompt_tokens: Annotated[int, AT_LEAST_1] = 224  # longer judge prompts abstain; the judge's engine is sized for this
    # pairwise: ask each comparison in both orders and average, which cancels position bias; false: once, in the
    # order the samples came (half the judge's work)
    swap_positions: bool = True


@dataclass
class RewardConfig:
    """The feedback source (the oracle) and how its rewards become learning targets."""

    # the feedback source (rewards/)
    kind: Literal["letter_share", "reward_model", "self_judge", "llm_judge", "function", "exact_match", "regex",
                  "length", "remote"] = "letter_share"
    target_letter: str = "o"  # letter_share: the toy task's letter
    function: str = ""  # function: "package.module:function" or "path/to/file.py:function", f(prompt, response)
    concurrency: Annotated[int, AT_LEAST_1] = 8  # function: calls at once
    pattern: str = ""  # regex: 1.0 when the response matches
    target_words: Annotated[int, AT_LEAST_0] = 0  # length: 1.0 at exactly this many words
    url: str = ""  # remote: the endpoint (see rewards/remote.py for the JSON it exchanges)
    timeout_s: Annotated[float, POSITIVE] = 30.0  # function: per call; remote: per request
    retries: Annotated[int, AT_LEAST_0] = 2  # remote: further attempts before the run stops with an error
    model_path: str = ""  # reward_model: a sequence-classification folder; empty builds the tiny reward model
    # the tiny reward model's preference labels: letter_share (the toy's) or writing_gold (the lab's Task B proxy:
    # trained on tiny_pairs pairs labelled by the hidden gold reward, so it is imperfect; 0: fresh pairs each step)
    tiny_labels: Literal["letter_share", "writing_gold"] = "letter_share"
    tiny_pairs: Annotated[int, AT_LEAST_0] = 0  # the tiny reward model's training pairs
    batch_size: Annotated[int, AT_LEAST_1] = 16  # reward_model
    judge: JudgeConfig = field(default_factory=JudgeConfig)  # self_judge, llm_judge
    # How raw rewards become UNA score targets in [0, 1] (on the toy task per-prompt min-max learned fastest).
    normalization: Literal["raw", "sigmoid", "batch_sigmoid", "prompt_minmax"] = "prompt_minmax"


@dataclass
class AlgorithmConfig:
    """The objective (learner/algorithms/) and its hyper-parameters."""

    # una, ppo, dpo, ipo, simpo, rdpo, kto, grpo, rloo: the registered algorithms (learner/algorithms/)
    name: str = "una"
    feedback: Literal["score", "binary", "pairwise"] = "score"  # UNA's feedback type, built from the oracle's scores
    # The log-ratio is a sum over response tokens; on the tiny model it reaches ~100 nats, so beta must be
    # small enough that sigmoid(beta * ratio) does not saturate (beta 0.1 stalled at ratio ~80 here).
    beta: Annotated[float, AT_LEAST_0] = 0.02
    # UNA binary, KTO: a sample is desirable when its [0, 1] score target is at least this
    binary_threshold: Annotated[float, SHARE] = 0.5
    una_binary_form: Literal["mse", "bce"] = "mse"  # UNA binary's loss: mse or bce of sigmoid(beta x log-ratio) against the label
    label_smoothing: Annotated[float, Range(0, 0.5, high_open=True)] = 0.0  # DPO (cDPO when > 0)
    simpo_gamma: float = 0.5  # SimPO's target reward margin
    kto_lambda_desirable: Annotated[float, AT_LEAST_0] = 1.0  # KTO's weight of desirable samples
    kto_lambda_undesirable: Annotated[float, AT_LEAST_0] = 1.0  # KTO's weight of undesirable samples
    rdpo_alpha: Annotated[float, AT_LEAST_0] = 0.01  # R-DPO's length-regularisation weight
    # PPO: per-token KL penalty in the reward; GRPO / RLOO: weight of the k3 KL in the loss
    kl_coef: Annotated[float, AT_LEAST_0] = 0.04
    clip_eps: Annotated[float, POSITIVE] = 0.2  # PPO: clipping of the policy's ratio to the policy before the update
    # PPO / GRPO / RLOO: each token's weight min(pi_learner / pi_generator, cap) for samples a stale or
    # numerically different generator drew (train.max_staleness); UNA, DPO and KTO need none (docs/async.md)
    importance_cap: Annotated[float, Range(low=1.0)] = 2.0
    kl_estimator: Literal["k1", "k2", "k3"] = "k1"  # PPO's per-token KL penalty
    ppo_epochs: Annotated[int, AT_LEAST_1] = 2  # passes over each batch of samples
    ppo_minibatches: Annotated[int, AT_LEAST_1] = 2  # optimizer steps per pass (the batch is split into this many)
    value_clip_eps: Annotated[float, POSITIVE] = 0.2  # PPO: clipping of the value model's change
    gamma: Annotated[float, SHARE] = 1.0  # PPO: discount
    lam: Annotated[float, SHARE] = 0.95  # PPO: GAE's lambda


@dataclass
class LearnerConfig:
    """The DeepSpeed learner: optimizer, micro-batches, ZeRO stage, online merging."""

    lr: Annotated[float, POSITIVE] = 1e-3  # AdamW's learning rate (LoRA usually takes a larger one)
    weight_decay: Annotated[float, AT_LEAST_0] = 0.0  # AdamW's weight decay
    # AdamW's two betas
    adam_betas: list[Annotated[float, Range(0, 1, high_open=True)]] = field(default_factory=lambda: [0.9, 0.999])
    micro_batch_size: Annotated[int, AT_LEAST_1] = 16  # sequences per micro-batch when max_tokens_per_micro_batch is 0
    # > 0: micro-batches by tokens instead (sequences of similar length together, rows x longest <= this):
    # the same gradient with less padding (bench/throughput.py). The reference scorer batches the same way;
    # PPO's minibatches keep micro_batch_size. Activation memory grows with it: lower it for large models.
    # 4096 holds a 64-sample step of the toy task: in bfloat16 on a CPU one micro-batch took 0.8 s against 1.0 s
    # in three of 1024 tokens (25M; docs/throughput.md); in float32 the two are alike
    max_tokens_per_micro_batch: Annotated[int, AT_LEAST_0] = 4096
    # with a token budget: the samples of one prompt computed as one row, the prompt once and each response after
    # it (learner/shared_prompts.py): the same log-probs and gradient, the prompt's tokens computed once instead of
    # once per response. Learner and reference scorer; needs transformers' sdpa attention (its default), else off
    share_prompts: bool = True
    # the policy's and the reference scorer's matrix products (torch autocast; weights, gradients and AdamW stay
    # float32): bfloat16 made the learner 1.2-1.3x and the reference 1.4-1.5x faster at 25M on a CPU with AVX512-BF16
    # (docs/throughput.md), with the lab's learning curve level with float32's. auto: bfloat16 where the learner's
    # hardware computes it natively (GPUs; CPUs with AVX512-BF16 or AMX), else float32 (core/precision.py). The
    # weight-sync check computes in float32 whatever this says; PPO's critic stays float32
    compute_dtype: Literal["auto", "float32", "bfloat16"] = "auto"
    # torch.compile the policy's and the reference's models (learner/compile.py): fused elementwise kernels made
    # a 25M run's learner 1.3x (bfloat16) and 1.2x (float32) faster on a CPU, its reference 1.4x and 1.15x
    # (docs/throughput.md), for about a minute of compiling at the first steps; on a CPU it needs a C++ compiler.
    # Off by default: on the lab's Task A compiled runs ended level with float32's but up to 2 points of held-out
    # accuracy below bfloat16 uncompiled (Xeon, 8 seeds; the EPYC's 16 inside the noise: docs/throughput.md)
    compile: bool = False
    # recompute each decoder layer's activations in the backward pass instead of keeping them (transformers'
    # gradient checkpointing): a micro-batch's activations shrink to each layer's input, for about a third more
    # compute. What a 7B learner on one GPU needs (configs/gpu/); off by default, the tiny models fit without it
    gradient_checkpointing: bool = False
    # what computes the reference's log-probs: learner (a transformers forward pass on a copy held by learner
    # rank 0: no actor of its own to start, one process fewer; on GPUs rank 0's device holds the whole copy),
    # transformers (the same forward pass in a reference scorer actor of its own, placed by cluster.reference)
    # or vllm (the prompt log-probs of a vLLM engine serving the reference, in the rollout engines' dtype: the
    # same numbers, faster on CPU; docs/throughput.md). vllm needs a reference that never moves and a policy
    # without LoRA. A LoRA reference that is the adapter-disabled base: the learner, no copy
    reference_engine: Literal["learner", "transformers", "vllm"] = "learner"
    # DeepSpeed ZeRO: what is partitioned over the learner's ranks: 0 (nothing), 1 (optimizer states), 2 (+ gradients),
    # 3 (+ weights); auto: 2 with several ranks, 0 with one (nothing to partition: the stages' bookkeeping cost a
    # 25M learner about 12% of its step, docs/throughput.md)
    zero_stage: Literal["auto", 0, 1, 2, 3] = "auto"
    grad_clip: Annotated[float, AT_LEAST_0] = 1.0  # the gradient's largest global norm (0: no clipping)
    critic_lr: Annotated[float, POSITIVE] = 1e-3  # PPO's value model
    max_nonfinite_updates: Annotated[int, AT_LEAST_1] = 3  # stop the run when this many updates in a row have a non-finite loss
    # The online merging optimizer (learner/online_merging.py): each update merged with the SFT task vector
    # tau = SFT - base, to keep the supervised skill. p: merge_reserve_rate, alpha: merge_alpha.
    merging: Literal["none", "ondare", "onties"] = "none"
    merge_reserve_rate: Annotated[float, OPEN_SHARE] = 0.01  # p: the share of each update's entries kept
    merge_alpha: Annotated[float, AT_LEAST_0] = 1e-7  # alpha: the weight of the SFT task vector
    merge_base_path: str = ""  # the model SFT started from; empty with the tiny model: it without its warm start
    merge_sft_path: str = ""  # empty: the policy's initial model

    def zero_stage_for(self, ranks: int) -> int:
        """The ZeRO stage the learner runs with this many ranks (zero_stage, with auto resolved)."""
        if self.zero_stage == "auto":
            return 2 if ranks > 1 else 0
        return self.zero_stage


@dataclass
class TrainConfig:
    """The loop: online or iterative, how long, the reference's schedule, asynchronous generation."""

    # online: weights pushed to the generator after every update; iterative: collect a whole iteration's
    # samples and feedback first, train on them for iterative_epochs, then push (self-rewarding, iterative DPO)
    mode: Literal["online", "iterative"] = "online"
    iterative_epochs: Annotated[int, AT_LEAST_1] = 1  # iterative mode: passes over an iteration's data
    iterations: Annotated[int, AT_LEAST_0] = 4  # iterations, each ending with a held-out evaluation and a checkpoint
    steps_per_iteration: Annotated[int, AT_LEAST_1] = 50  # steps an iteration: generate, score, learn
    prompts_per_step: Annotated[int, AT_LEAST_1] = 16  # prompts a step (x rollout.samples_per_prompt samples)
    seed: int = 0  # sampling, data order and the learner's random state
    # never: the initial model; every_iteration / every_k_steps: a copy of the policy; ema: ref <- (1 - r) ref + r policy
    reference_refresh: Literal["never", "every_iteration", "every_k_steps", "ema"] = "never"
    reference_refresh_steps: Annotated[int, AT_LEAST_1] = 10  # k, for every_k_steps (counted in optimizer updates)
    reference_ema_rate: Annotated[float, OPEN_SHARE] = 0.05  # r, for ema (applied after every update)
    verify_sync: bool = False  # after each weight push, check the engine's log-probs match the learner's
    # k >= 1: the engines generate up to k steps ahead while the learner trains, so a sample is trained on at most
    # k policy versions after the one that drew it (records' staleness column); 0: strictly one after another
    max_staleness: Annotated[int, AT_LEAST_0] = 0
    # checkpoints that keep their optimizer state for resuming (the newest ones; a crashed run continues from the newest)
    keep_resume_states: Annotated[int, AT_LEAST_1] = 1


@dataclass
class StoppingConfig:
    """Checks after each iteration's evaluation; the run stops at the first that fires. 0 turns one off."""

    patience: Annotated[int, AT_LEAST_0] = 0  # stop when this many iterations in a row bring no new best held-out reward
    min_delta: Annotated[float, AT_LEAST_0] = 0.0  # the improvement that counts as new best
    max_kl: Annotated[float, AT_LEAST_0] = 0.0  # stop when the KL to the initial policy exceeds this
    min_win_rate: Annotated[float, SHARE] = 0.0  # stop when the new policy beats the previous iteration's less often than this
    # a wall-clock budget for training (the loop after the actors started, without held-out evaluation and
    # checkpoints): checked after every step; the iteration then ends early with its evaluation and checkpoint
    max_seconds: Annotated[float, AT_LEAST_0] = 0.0
    # the guard metric on held-out samples (rewards/guard.py): "auto" (on the toy task, naming the prompt's
    # topics, the warm-start skill), "none", "arithmetic" (greedy accuracy on held-out sums, the lab's skill),
    # or "package.module:function" / "path/to/file.py:function"
    guard: str = "auto"
    max_guard_drop: Annotated[float, AT_LEAST_0] = 0.0  # stop when the guard falls more than this below its value before training


@dataclass
class EvaluationConfig:
    """The held-out evaluation after every iteration (data.toy_eval_prompts or the held-out split)."""

    # a gold metric scored beside the reward on the same held-out samples, never seen by training: "none",
    # "exact_match" (against data.answer_field), "writing_gold" (the lab's Task B, tasks/writing.py), or a
    # function "package.module:function" / "path/to/file.py:function", f(prompt, response[, answer])
    gold: str = "none"
    greedy: bool = False  # also one greedy answer per held-out prompt, scored by the oracle and the gold metric
    # pairs whose better response is known, judged by the oracle (the judge, the policy judging itself, a reward
    # model) at every evaluation: its agreement, position consistency and length preference (rewards/preference_pairs.py).
    # "" none; writing_gold: the lab's 128 + 32 pairs from Task B's gold reward; or a .jsonl/.parquet file or
    # datasets folder in TRL's preference format (prompt, chosen, rejected; optional tie)
    judge_pairs: str = ""


@dataclass
class LoggingConfig:
    """Where metrics go (besides the run folder's metrics.jsonl) and what the terminal shows."""

    # any of jsonl (metrics.jsonl, always: the report, curves and resume read it), tensorboard, mlflow
    # (`pip install una-align[mlflow]`), wandb (`pip install una-align[wandb]`)
    trackers: list[Literal["jsonl", "tensorboard", "mlflow", "wandb"]] = field(default_factory=lambda: ["jsonl", "tensorboard"])
    project: str = "una-align"  # the MLflow experiment and the W&B project
    run_name: str = ""  # the run's name in MLflow and W&B; empty: the run folder's name
    # empty: a SQLite store in the run folder (mlflow.db; `mlflow ui --backend-store-uri sqlite:///RUN/mlflow.db`)
    mlflow_tracking_uri: str = ""
    # offline: the run is written under RUN/wandb (`wandb sync` uploads it); online: needs `wandb login`
    wandb_mode: Literal["offline", "online"] = "offline"
    verbose: bool = False  # the libraries' own warnings (vLLM, DeepSpeed, torch, Ray) in the terminal too; --verbose


@dataclass
class RoleResources:
    """Where one kind of actor runs (core/placement.py turns these into Ray placement groups)."""

    # rollout: data-parallel vLLM engines; learner: DeepSpeed ranks; reference/oracle/judge: 1
    count: Annotated[int, AT_LEAST_1] = 1
    # per actor; below 1 when colocated (its share of a GPU); vLLM engines: tensor_parallel
    gpus: Annotated[float, AT_LEAST_0] = 0.0
    cpus: Annotated[float, AT_LEAST_0] = 0.0  # per actor; 0 reserves none (the phases of a step run one after another)
    tensor_parallel: Annotated[int, AT_LEAST_1] = 1  # vLLM engines (rollout, judge): GPUs per engine, on one node
    pool: str = ""  # roles naming the same pool are colocated: actor i of each shares bundle i; empty: its own
    node_resource: str = ""  # a custom Ray resource (`ray start --resources`) that pins the actors to such nodes


@dataclass
class ClusterConfig:
    """Placement of the actors, checked before any engine starts (`python launch.py --dry-run` prints it)."""

    nodes: Annotated[int, AT_LEAST_1] = 1  # the cluster --dry-run checks against; a real run checks the Ray cluster it joined
    gpus_per_node: Annotated[int, AT_LEAST_0] = 0  # the cluster --dry-run checks against
    cpus_per_node: Annotated[int, AT_LEAST_0] = 0  # 0: not checked
    # the memory check (core/memory_plan.py): each GPU's memory, and each node's memory for the actors on CPUs
    gpu_memory_gib: Annotated[float, POSITIVE] = 80.0
    memory_gib_per_node: Annotated[float, AT_LEAST_0] = 0.0  # 0: this machine's memory on one node, else not checked
    rollout: RoleResources = field(default_factory=RoleResources)
    learner: RoleResources = field(default_factory=RoleResources)
    reference: RoleResources = field(default_factory=RoleResources)  # also the KL-to-initial scorer when it moves
    oracle: RoleResources = field(default_factory=RoleResources)
    judge: RoleResources = field(default_factory=RoleResources)  # reward.kind llm_judge
    # shm: one copy into shared memory, loaded through vLLM's weight-transfer API (engines on the learner's machine);
    # ray: safetensors buckets through Ray's object store (any node, ~6x slower); nccl: vLLM's NCCL transfer (GPUs)
    weight_transport: Literal["shm", "ray", "nccl"] = "shm"
    weight_bucket_mb: Annotated[int, AT_LEAST_1] = 256  # weight_transport ray: the largest safetensors bucket of a push
    # every remote call and collective: a hang becomes an error naming the actor
    call_timeout_s: Annotated[float, POSITIVE] = 1800.0
    # a rollout engine or the oracle whose process dies is restarted by Ray, given the current weights, and the
    # step retried, this many times in a run; then the run stops with an error (and resumes from its checkpoint)
    max_restarts: Annotated[int, AT_LEAST_0] = 3


@dataclass
class RunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    algorithm: AlgorithmConfig = field(default_factory=AlgorithmConfig)
    learner: LearnerConfig = field(default_factory=LearnerConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    stopping: StoppingConfig = field(default_factory=StoppingConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def load_config(path: str | None = None, overrides: list[str] = ()) -> RunConfig:
    """Read a YAML preset (or the embedded default), apply `a.b=value` overrides, validate."""
    from core.config_checks import check_combinations

    data: dict[str, Any] = {}
    source = "the embedded default"
    if path:
        source = str(path)
        file = Path(path)
        if not file.is_file():
            raise ConfigError(f"config file {path} does not exist; pass --config with a YAML file, e.g. configs/default.yaml")
        try:
            data = yaml.safe_load(file.read_text()) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"{path} is not valid YAML: {err}") from err
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of sections (model:, train:, ...)")
        build(RunConfig, data, "", source)  # so that a bad key in the file is reported as the file's
    if overrides:
        for item in overrides:
            apply_override(data, item)
        source = "command-line override"
    cfg = build(RunConfig, data, "", source)
    check_combinations(cfg, source)
    return cfg
