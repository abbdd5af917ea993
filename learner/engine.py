"""The policy learner: a DeepSpeed engine (ZeRO, gloo on the CPU) that owns the trainable weights."""

from __future__ import annotations

import atexit
import math
import os
import socket
from datetime import timedelta

import torch

from core.config import AlgorithmConfig, LearnerConfig, LoraConfig
from core.memory import ReportsMemory
from core.precision import concrete_dtype
from core.records import Sample, UpdateStats
from learner.algorithms import lookup
from learner.attention import use_float32_attention
from learner.compile import compile_model
from learner.logprobs import response_logprobs
from learner.lora import (
    ADAPTER_FOLDER,
    AdapterUpdate,
    adapter_files,
    adapter_state_dict,
    gathered,
    merged_state_dict,
    wrap_with_lora,
    write_adapter,
)
from learner.objectives import LearnerBatch
from learner.one_update import OneUpdate
from learner.optimizer import learner_optimizer
from learner.reference import ReferenceScorer
from learner.shared_prompts import shares_prompts
from learner.shm_weights import shared_folder
from learner.weights import serialize_buckets, unique_tensors


def init_process_group(rank: int = 0, world_size: int = 1, master: str = "", timeout_s: float = 1800.0) -> None:
    """The learner group's torch.distributed group (gloo on the CPU, NCCL on GPUs); DeepSpeed needs one even
    for a single rank. master: rank 0's "address:port" (one rank: this machine, a free port)."""
    import deepspeed

    from learner import cpu_comm

    cpu_comm.prepare(world_size)
    if world_size > 1:
        os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = master.rsplit(":", 1)
        os.environ.update(RANK=str(rank), WORLD_SIZE=str(world_size), LOCAL_RANK="0")
    os.environ.setdefault("RANK", "0")
    os.environ.setdefault("LOCAL_RANK", "0")
    os.environ.setdefault("WORLD_SIZE", "1")
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", str(free_port()))
    for attempt in range(3):
        if torch.distributed.is_initialized():
            return
        try:
            deepspeed.init_distributed(dist_backend="gloo" if not torch.cuda.is_available() else "nccl",
                                       timeout=timedelta(seconds=timeout_s))
        except torch.distributed.DistNetworkError:
            # free_port's port can be taken before the store binds it (EADDRINUSE, seen once in a test run);
            # one rank picked it alone, so it may pick another; a group's ranks all need rank 0's
            if world_size > 1 or attempt == 2:
                raise
            os.environ["MASTER_PORT"] = str(free_port())


class PolicyLearner(ReportsMemory):
    """One rank of the learner; with world_size > 1 each rank learns from its share of every batch and
    DeepSpeed averages the gradients (actors/learner_group.py starts the ranks)."""

    def __init__(self, model_path: str, learner: LearnerConfig, algorithm: AlgorithmConfig,
                 max_sequences_per_step: int, seed: int, rank: int = 0, world_size: int = 1, master: str = "",
                 timeout_s: float = 1800.0, bucket_mb: int = 256, lora: LoraConfig | None = None,
                 holds_reference: bool = False):
        """holds_reference: this rank keeps a copy of the reference and answers the reference scorer's calls
        (learner.reference_engine learner; rank 0 only)."""
        import deepspeed
        from transformers import AutoModelForCausalLM

        torch.manual_seed(seed)
        self.model_path, self.seed = model_path, seed
        entry = lookup(algorithm)
        self.rank, self.world_size, self.bucket_bytes = rank, world_size, bucket_mb * 2**20
        init_process_group(rank, world_size, master, timeout_s)
        model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
        self.compute_dtype = getattr(torch, concrete_dtype(learner.compute_dtype, torch.cuda.is_available()))
        use_float32_attention(model, self.compute_dtype)
        self.lora = lora if lora is not None and lora.enabled else None
        if self.lora:
            model = wrap_with_lora(model, self.lora)  # the base frozen: only the adapter is optimised
        if learner.gradient_checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        compile_model(model, learner.compile)
        self.pad_token_id = model.config.pad_token_id if model.config.pad_token_id is not None else 0
        # one optimizer step takes the whole batch, or a part of it (PPO's minibatches); this rank its share
        per_step = math.ceil(entry.update_size(algorithm, max_sequences_per_step) / world_size)
        self.micro_batch_size = min(learner.micro_batch_size, per_step)
        self.accumulation_steps = math.ceil(per_step / self.micro_batch_size)
        self.max_tokens_per_micro_batch = learner.max_tokens_per_micro_batch
        self.share_prompts = shares_prompts(learner.share_prompts, learner.max_tokens_per_micro_batch, model)
        trainable = [p for p in model.parameters() if p.requires_grad]
        self.zero_stage = learner.zero_stage_for(world_size)
        optimizer, grad_clip = learner_optimizer(trainable, self.zero_stage, learner.grad_clip, lr=learner.lr,
                                                 betas=tuple(learner.adam_betas), weight_decay=learner.weight_decay)
        ds_config = {
            "train_micro_batch_size_per_gpu": self.micro_batch_size,
            "gradient_accumulation_steps": self.accumulation_steps,
            "gradient_clipping": grad_clip,
            "zero_optimization": {"stage": self.zero_stage},
            "steps_per_print": 10**9,
        }
        self.engine, *_ = deepspeed.initialize(model=model, optimizer=optimizer, config=ds_config)
        self.nccl = None  # cluster.weight_transport nccl: the sender, opened at the first push
        self.shared_weights = None  # cluster.weight_transport shm: the file in shared memory, made at the first push
        self.adapter_folder: str | None = None  # model.lora: where the pushed adapter is written
        self.merging = None
        if learner.merging != "none":
            from learner.online_merging import OnlineMerging

            self.merging = OnlineMerging(self.engine.module, learner.merge_base_path, learner.merge_sft_path or model_path,
                                         learner.merging, learner.merge_reserve_rate, learner.merge_alpha, seed)
        self.reference = None
        if holds_reference:
            self.reference = ReferenceScorer(model_path, learner.micro_batch_size, learner.max_tokens_per_micro_batch,
                                             learner.share_prompts,
                                             lora.adapter_path if self.lora else "", learner.compute_dtype,
                                             learner.compile)
        # the algorithm's optimizer-step plan: its own (PPO), or one update with its objective
        self.updater = (entry.updater(algorithm, learner, self) if entry.updater is not None
                        else OneUpdate(entry.objective(algorithm), self))

    def train_step(self, batch: LearnerBatch) -> UpdateStats:
        """The algorithm's updates for one batch (one optimizer step for most)."""
        _check_inputs(batch)
        self.engine.train()
        return self.updater.train_step(batch)

    def sequence_logprobs(self, samples: list[Sample], exact: bool = False) -> list[list[float]]:
        """The current policy's log-probs of each sample's response tokens (exact: in float32, whatever
        learner.compute_dtype says: the weight-sync check compares them with the engines')."""
        self.engine.eval()
        return response_logprobs(self.engine.module, samples, self.pad_token_id, self.micro_batch_size,
                                 self.max_tokens_per_micro_batch, torch.float32 if exact else self.compute_dtype,
                                 self.share_prompts)

    def score(self, samples: list[Sample]) -> list[list[float]]:
        """The reference scorer's call, answered by learner rank 0: the reference's log-probs, from the copy this
        rank holds (learner.reference_engine learner), or with model.lora.reference adapter_disabled from the
        base weights with the adapter switched off."""
        if self.reference is not None:
            return self.reference.score(samples)
        with self.engine.module.disable_adapter():
            return self.sequence_logprobs(samples)

    def load_reference(self, buckets: list[bytes], version: int, ema_rate: float | None = None) -> None:
        """The held reference copy takes these weights, or moves toward them (ReferenceScorer.load_reference)."""
        self.reference.load_reference(buckets, version, ema_rate)

    def save_reference(self, path: str) -> None:
        self.reference.save_reference(path)

    def export_adapter(self, shared_memory: bool) -> AdapterUpdate | None:
        """model.lora: the adapter alone, for the rollout engines (gathered first under ZeRO-3, where every rank
        must call this; rank 0 returns it): its folder in shared memory (cluster.weight_transport shm), or its
        files' bytes through Ray's object store (ray, nccl)."""
        state_dict = self._adapter_state_dict()
        if self.rank != 0:
            return None
        if self.adapter_folder is None:
            self.adapter_folder = shared_folder()
        write_adapter(self.engine.module, state_dict, self.adapter_folder)
        if shared_memory:
            return AdapterUpdate(folder=self.adapter_folder, host=socket.gethostname())
        return AdapterUpdate(files=adapter_files(self.adapter_folder))

    def export_weights(self) -> list[bytes]:
        """The full weights as safetensors buckets of at most cluster.weight_bucket_mb (gathered first under
        ZeRO-3, where every rank must call this; only rank 0 returns them)."""
        state_dict = self._full_state_dict()
        return serialize_buckets(state_dict, self.bucket_bytes) if self.rank == 0 else []

    def write_shared_weights(self) -> dict | None:
        """cluster.weight_transport shm: the full weights into shared memory (gathered first under ZeRO-3, where
        every rank must call this); rank 0 returns the layout the rollout engines load them by."""
        state_dict = self._full_state_dict()
        if self.rank != 0:
            return None
        if self.shared_weights is None:
            from learner.shm_weights import SharedMemoryWeights

            self.shared_weights = SharedMemoryWeights()
            atexit.register(self.shared_weights.close)
        return self.shared_weights.write(unique_tensors(state_dict))

    def send_weights_nccl(self, engines: list, engine_gpus: int) -> None:
        """cluster.weight_transport nccl (GPUs): broadcast the weights into every rollout engine's workers."""
        if self.nccl is None:
            from learner.nccl_sync import NcclWeightSender

            self.nccl = NcclWeightSender(self.engine.module, engines, engine_gpus, self.rank)
        self.nccl.send()

    def save_pretrained(self, folder: str) -> None:
        """A Hugging Face folder (weights, config, tokenizer) that transformers and vLLM load; with model.lora
        the adapter merged in, and the adapter itself in PEFT's format in folder/adapter."""
        from transformers import AutoTokenizer

        state_dict = self._full_state_dict()  # every rank joins the gather under ZeRO-3; rank 0 writes
        adapter = self._adapter_state_dict() if self.lora else None
        if self.rank != 0:
            return
        module = self.engine.module.get_base_model() if self.lora else self.engine.module
        module.save_pretrained(folder, state_dict=state_dict, safe_serialization=True)
        AutoTokenizer.from_pretrained(self.model_path).save_pretrained(folder)
        if adapter is not None:
            write_adapter(self.engine.module, adapter, os.path.join(folder, ADAPTER_FOLDER))

    def save_state(self, folder: str) -> None:
        """Everything needed to continue training exactly: DeepSpeed's weights and optimizer state, the random
        states, and what the algorithm's plan holds (PPO: its critic)."""
        plan = self.updater.save(folder)
        self.engine.save_checkpoint(folder, tag="policy", client_state={"rng": torch.get_rng_state(), "plan": plan})

    def load_state(self, folder: str) -> None:
        _, client_state = self.engine.load_checkpoint(folder, tag="policy", load_optimizer_states=True,
                                                      load_lr_scheduler_states=True)
        torch.set_rng_state(client_state["rng"])
        self.updater.load(folder, client_state["plan"])

    def _full_state_dict(self) -> dict[str, torch.Tensor]:
        """The policy's full weights under the base model's names (with model.lora: the adapter merged in)."""
        module = self.engine.module

        with gathered(list(module.parameters()), self.zero_stage):
            state = merged_state_dict(module) if self.lora else module.state_dict()
            # under ZeRO-3 the gathered tensors are freed on leaving: keep copies
            return {k: v.detach().clone() if self.zero_stage == 3 else v.detach() for k, v in state.items()}

    def _adapter_state_dict(self) -> dict[str, torch.Tensor]:
        return adapter_state_dict(self.engine.module, self.zero_stage)


def _check_inputs(batch: LearnerBatch) -> None:
    signal, count = batch.signal, len(batch.samples)
    per_sample = {"reference rows": batch.reference_logprobs, "scores": signal.scores, "labels": signal.labels,
                  "advantages": signal.advantages}
    wrong = {name: len(values) for name, values in per_sample.items() if values and len(values) != count}
    if wrong or len(batch.reference_logprobs) != count:
        raise ValueError(f"train_step got {count} samples and {wrong or per_sample['reference rows']}; every "
                         "per-sample field must match the samples one to one")
    if any(not (0 <= c < count and 0 <= r < count) for c, r in signal.pairs):
        raise ValueError(f"train_step got a pair index outside the {count} samples: {signal.pairs}")
    for i, (sample, ref) in enumerate(zip(batch.samples, batch.reference_logprobs)):
        if len(ref) != len(sample.response_token_ids):
            raise ValueError(f"sample {sample.sample_id}: {len(ref)} reference log-probs for "
                             f"{len(sample.response_token_ids)} response tokens")
        values = [values[i] for values in (signal.scores, signal.labels, signal.advantages) if values]
        if not all(math.isfinite(v) for v in values + ref):
            bad = next(v for v in values + ref if not math.isfinite(v))
            raise ValueError(f"sample {sample.sample_id}: non-finite learning target {bad} or reference log-prob")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
