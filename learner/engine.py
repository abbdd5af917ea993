"""The policy learner: a DeepSpeed engine (ZeRO, gloo on the CPU) that owns the trainable weights."""

from __future__ import annotations

import math
import os
import socket
from collections import defaultdict
from datetime import timedelta

import torch

from core.config import AlgorithmConfig, LearnerConfig
from core.memory import ReportsMemory
from core.records import Sample
from learner.critic import build_critic_engine
from learner.logprobs import response_logprobs, token_logprobs
from learner.objectives import LearnerBatch, build_objective, make_micro_batch, zero_loss
from learner.ppo import PPOTrainer
from learner.weights import serialize_buckets


def init_process_group(rank: int = 0, world_size: int = 1, master: str = "", timeout_s: float = 1800.0) -> None:
    """The learner group's torch.distributed group (gloo on the CPU, NCCL on GPUs); DeepSpeed needs one even
    for a single rank. master: rank 0's "address:port" (one rank: this machine, a free port)."""
    import deepspeed

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
                 timeout_s: float = 1800.0, bucket_mb: int = 256):
        import deepspeed
        from transformers import AutoModelForCausalLM

        torch.manual_seed(seed)
        self.model_path = model_path
        self.rank, self.world_size, self.bucket_bytes = rank, world_size, bucket_mb * 2**20
        init_process_group(rank, world_size, master, timeout_s)
        model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
        self.pad_token_id = model.config.pad_token_id if model.config.pad_token_id is not None else 0
        # one optimizer step takes the whole batch, or one of PPO's minibatches
        per_step = max_sequences_per_step
        if algorithm.name == "ppo":
            per_step = math.ceil(max_sequences_per_step / algorithm.ppo_minibatches)
        per_step = math.ceil(per_step / world_size)  # this rank's share
        self.micro_batch_size = min(learner.micro_batch_size, per_step)
        self.accumulation_steps = math.ceil(per_step / self.micro_batch_size)
        optimizer = torch.optim.AdamW(
            model.parameters(), lr=learner.lr, betas=tuple(learner.adam_betas), weight_decay=learner.weight_decay
        )
        ds_config = {
            "train_micro_batch_size_per_gpu": self.micro_batch_size,
            "gradient_accumulation_steps": self.accumulation_steps,
            "gradient_clipping": learner.grad_clip,
            "zero_optimization": {"stage": learner.zero_stage},
            "steps_per_print": 10**9,
        }
        self.engine, *_ = deepspeed.initialize(model=model, optimizer=optimizer, config=ds_config)
        self.zero_stage = learner.zero_stage
        self.nccl = None  # cluster.weight_transport nccl: the sender, opened at the first push
        self.merging = None
        if learner.merging != "none":
            from learner.online_merging import OnlineMerging

            self.merging = OnlineMerging(self.engine.module, learner.merge_base_path, learner.merge_sft_path or model_path,
                                         learner.merging, learner.merge_reserve_rate, learner.merge_alpha, seed)
        self.objective, self.ppo = None, None
        if algorithm.name == "ppo":
            critic = build_critic_engine(model_path, learner.critic_lr, self.micro_batch_size, self.accumulation_steps,
                                         learner.grad_clip, learner.zero_stage)
            self.ppo = PPOTrainer(algorithm, self.engine, critic, self.micro_batch_size, self.accumulation_steps,
                                  self.pad_token_id, seed, rank, world_size)
        else:
            self.objective = build_objective(algorithm)

    def train_step(self, batch: LearnerBatch) -> dict[str, float]:
        """One optimizer step over the whole batch, in exactly `gradient_accumulation_steps` micro-batches."""
        _check_inputs(batch)
        self.engine.train()
        if self.ppo is not None:
            return self.ppo.train_step(batch)
        if hasattr(self.objective, "prepare"):
            self.objective.prepare(batch, self.sequence_logprobs)
            self.engine.train()
        count = self.objective.normaliser(batch)
        my_units = self.objective.units(batch)[self.rank :: self.world_size]
        chunks = split_units(my_units, self.micro_batch_size, self.accumulation_steps)
        before_step = self.merging.snapshot() if self.merging else None
        losses, nonfinite, stats = [], 0, defaultdict(list)
        for chunk in chunks:
            if chunk:
                micro = make_micro_batch(batch, chunk, self.pad_token_id).to(self.engine.device)
                loss, part_stats = self.objective.loss(token_logprobs(self.engine, micro.tokens), micro, count)
                for key, value in part_stats.items():
                    stats[key].append(value)
            if not chunk or not torch.isfinite(loss):
                # An empty chunk keeps DeepSpeed's accumulation count fixed. A non-finite loss comes only from
                # the weights (inputs were checked): back-propagate zeros so the optimizer state stays finite.
                nonfinite += bool(chunk)
                loss = zero_loss(self.engine)
            # the loss is already divided by the whole step's count; DeepSpeed averages the ranks' gradients
            self.engine.backward(loss * self.world_size, scale_wrt_gas=False)
            self.engine.step()
            losses.append(loss.item())
        if self.merging:  # the optimizer stepped at the last micro-batch; merge its update with tau
            self.merging.merge_step(before_step)
        return {
            "loss": sum(losses),
            "nonfinite_microbatches": float(nonfinite),
            "grad_norm": float(self.engine.get_global_grad_norm() or 0.0),
            **{key: sum(values) / len(values) for key, values in stats.items()},
        }

    def sequence_logprobs(self, samples: list[Sample]) -> list[list[float]]:
        """The current policy's log-probs of each sample's response tokens."""
        self.engine.eval()
        return response_logprobs(self.engine.module, samples, self.pad_token_id, self.micro_batch_size)

    def export_weights(self) -> list[bytes]:
        """The full weights as safetensors buckets of at most cluster.weight_bucket_mb (gathered first under
        ZeRO-3, where every rank must call this; only rank 0 returns them)."""
        state_dict = self._full_state_dict()
        return serialize_buckets(state_dict, self.bucket_bytes) if self.rank == 0 else []

    def send_weights_nccl(self, engines: list, engine_gpus: int) -> None:
        """cluster.weight_transport nccl (GPUs): broadcast the weights into every rollout engine's workers."""
        if self.nccl is None:
            from learner.nccl_sync import NcclWeightSender

            self.nccl = NcclWeightSender(self.engine.module, engines, engine_gpus, self.rank)
        self.nccl.send()

    def save_pretrained(self, folder: str) -> None:
        """A Hugging Face folder (weights, config, tokenizer) that transformers and vLLM load."""
        from transformers import AutoTokenizer

        state_dict = self._full_state_dict()  # every rank joins the gather under ZeRO-3; rank 0 writes
        if self.rank != 0:
            return
        self.engine.module.save_pretrained(folder, state_dict=state_dict, safe_serialization=True)
        AutoTokenizer.from_pretrained(self.model_path).save_pretrained(folder)

    def save_state(self, folder: str) -> None:
        """Everything needed to continue training exactly: DeepSpeed's weights and optimizer state (and the
        critic's, for PPO) and the random states."""
        rng = {"torch": torch.get_rng_state(), "ppo": self.ppo.generator.get_state() if self.ppo else None}
        self.engine.save_checkpoint(folder, tag="policy", client_state={"rng": rng})
        if self.ppo is not None:
            self.ppo.critic.save_checkpoint(folder, tag="critic")

    def load_state(self, folder: str) -> None:
        _, client_state = self.engine.load_checkpoint(folder, tag="policy", load_optimizer_states=True,
                                                      load_lr_scheduler_states=True)
        torch.set_rng_state(client_state["rng"]["torch"])
        if self.ppo is not None:
            self.ppo.critic.load_checkpoint(folder, tag="critic", load_optimizer_states=True)
            self.ppo.generator.set_state(client_state["rng"]["ppo"])

    def _full_state_dict(self) -> dict[str, torch.Tensor]:
        module = self.engine.module
        if self.zero_stage == 3:
            import deepspeed

            with deepspeed.zero.GatheredParameters(list(module.parameters()), modifier_rank=None):
                return {k: v.detach().clone() for k, v in module.state_dict().items()}
        return {k: v.detach() for k, v in module.state_dict().items()}


def split_units(units: list[list[int]], micro_batch_size: int, chunks: int) -> list[list[list[int]]]:
    """Pack units (a sample, or a pair that must stay together) into exactly `chunks` micro-batches of at
    most micro_batch_size sequences each (a unit larger than that gets a micro-batch of its own)."""
    packed: list[list[list[int]]] = [[]]
    size = 0
    for unit in units:
        if packed[-1] and size + len(unit) > micro_batch_size:
            packed.append([])
            size = 0
        packed[-1].append(unit)
        size += len(unit)
    if len(packed) > chunks:
        raise ValueError(f"{sum(map(len, units))} sequences do not fit {chunks} micro-batches of {micro_batch_size}")
    return packed + [[] for _ in range(chunks - len(packed))]


def _check_inputs(batch: LearnerBatch) -> None:
    if not (len(batch.samples) == len(batch.reference_logprobs) == len(batch.values)):
        raise ValueError(f"train_step got {len(batch.samples)} samples, {len(batch.reference_logprobs)} reference rows, "
                         f"{len(batch.values)} values; they must match one to one")
    for sample, ref, value in zip(batch.samples, batch.reference_logprobs, batch.values):
        if len(ref) != len(sample.response_token_ids):
            raise ValueError(f"sample {sample.sample_id}: {len(ref)} reference log-probs for "
                             f"{len(sample.response_token_ids)} response tokens")
        if not math.isfinite(value) or not all(math.isfinite(v) for v in ref):
            raise ValueError(f"sample {sample.sample_id}: non-finite learning target {value} or reference log-prob")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
