"""PPO with a critic for language models (Schulman et al. 2017; Ouyang et al. 2022), on the learner's engines.

One call of train_step, for a batch of generated samples with scores:
  1. old log-probs (policy) and old values (critic), recomputed here before any update
  2. token rewards r_t = -kl_coef * KL_t, plus the score on the last response token
  3. GAE advantages and returns; advantages whitened over all valid tokens of the batch
  4. ppo_epochs passes over shuffled minibatches: clipped policy loss on the policy engine, clipped value
     loss on the critic engine, each minibatch one optimizer step of each, normalised by its valid tokens
The policy loss's tokens are weighted by min(pi_old / pi_behaviour, algorithm.importance_cap): a sample a
stale generator drew (train.max_staleness) is corrected toward the policy the update starts from.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

from core.config import AlgorithmConfig, LearnerConfig
from core.records import UpdateStats
from learner.algorithms.base import Algorithm
from learner.batch import TokenBatch, at_response_positions, collate
from learner.critic import build_critic_engine
from learner.logprobs import token_logprobs
from learner.objectives import LearnerBatch, idle_loss
from learner.policy_gradient import (
    gae,
    kl_estimate,
    ppo_policy_loss,
    ppo_value_loss,
    token_rewards,
    truncated_importance_weights,
    whiten,
)
from rewards.signals import score_signal

if TYPE_CHECKING:
    from learner.engine import PolicyLearner


class PPOTrainer:
    """PPO's optimizer-step plan (an Updater): several updates of the policy and its critic per batch."""

    def __init__(self, cfg: AlgorithmConfig, policy, critic, micro_batch_size: int, accumulation_steps: int,
                 pad_token_id: int, seed: int, rank: int = 0, world_size: int = 1,
                 compute_dtype: torch.dtype = torch.float32):
        self.cfg, self.policy, self.critic = cfg, policy, critic
        self.compute_dtype = compute_dtype  # the policy's (learner.compute_dtype); the critic computes in float32
        self.rank, self.world_size = rank, world_size  # each rank takes its share of every minibatch
        self.micro_batch_size, self.accumulation_steps = micro_batch_size, accumulation_steps
        self.pad_token_id = pad_token_id
        self.generator = torch.Generator().manual_seed(seed)

    @classmethod
    def build(cls, cfg: AlgorithmConfig, learner_cfg: LearnerConfig, learner: PolicyLearner) -> PPOTrainer:
        """The plan on the policy learner's engine, with a critic engine of its own."""
        critic = build_critic_engine(learner.model_path, learner_cfg.critic_lr, learner.micro_batch_size,
                                     learner.accumulation_steps, learner_cfg.grad_clip, learner.zero_stage,
                                     learner_cfg.gradient_checkpointing)
        return cls(cfg, learner.engine, critic, learner.micro_batch_size, learner.accumulation_steps,
                   learner.pad_token_id, learner.seed, learner.rank, learner.world_size, learner.compute_dtype)

    def save(self, folder: str) -> dict:
        self.critic.save_checkpoint(folder, tag="critic")
        return {"generator": self.generator.get_state()}

    def load(self, folder: str, state: dict) -> None:
        self.critic.load_checkpoint(folder, tag="critic", load_optimizer_states=True)
        self.generator.set_state(state["generator"])

    def train_step(self, batch: LearnerBatch) -> UpdateStats:
        cfg = self.cfg
        tokens = collate(batch.samples, self.pad_token_id).to(self.policy.device)
        mask = tokens.response_mask
        old_logprobs, old_values = self._old_logprobs_and_values(tokens)
        kl = kl_estimate(old_logprobs, at_response_positions(tokens, batch.reference_logprobs), cfg.kl_estimator)
        scores = torch.tensor(batch.signal.scores, dtype=torch.float32, device=mask.device)
        rewards = token_rewards(scores, kl, mask, cfg.kl_coef)
        advantages, returns = gae(rewards, old_values, mask, cfg.gamma, cfg.lam)
        advantages = whiten(advantages, mask)
        # a sample from an older policy (train.max_staleness) weighs min(pi_old / pi_behaviour, cap) per token
        behaviour = at_response_positions(tokens, [s.behaviour_logprobs for s in batch.samples])
        weights = truncated_importance_weights(old_logprobs, behaviour, cfg.importance_cap)
        stats = {"policy_loss": 0.0, "value_loss": 0.0, "clip_fraction": 0.0}
        updates = 0
        for _ in range(cfg.ppo_epochs):
            order = torch.randperm(len(tokens), generator=self.generator)
            for minibatch in torch.tensor_split(order, cfg.ppo_minibatches):
                num_tokens = int(mask[minibatch].sum().clamp(min=1))  # the whole minibatch's, on every rank
                mine = minibatch[self.rank :: self.world_size]  # none when the minibatch has fewer rows than ranks
                micro_rows = list(torch.split(mine, self.micro_batch_size)) if len(mine) else []
                if len(micro_rows) > self.accumulation_steps:
                    raise ValueError(f"a PPO minibatch of {len(minibatch)} sequences needs {len(micro_rows)} micro-batches, "
                                     f"more than the {self.accumulation_steps} the learner was built for")
                for rows in micro_rows + [None] * (self.accumulation_steps - len(micro_rows)):
                    if rows is None:
                        device = self.policy.device  # an idle forward keeps this rank in ZeRO-3's collectives
                        self._apply(idle_loss(self._policy_logprobs, device), idle_loss(self.critic, device))
                        continue
                    part = tokens.select(rows)
                    logprobs = self._policy_logprobs(part)
                    policy_loss, clipped = ppo_policy_loss(logprobs, old_logprobs[rows], advantages[rows], mask[rows],
                                                           cfg.clip_eps, num_tokens, weights[rows])
                    value_loss = ppo_value_loss(self.critic(part), old_values[rows], returns[rows], mask[rows],
                                                cfg.value_clip_eps, num_tokens)
                    self._apply(policy_loss, value_loss)
                    stats["policy_loss"] += policy_loss.item()
                    stats["value_loss"] += value_loss.item()
                    stats["clip_fraction"] += clipped.item() / len(micro_rows)
                updates += 1
        valid = mask.bool()
        return UpdateStats(
            loss=(stats["policy_loss"] + stats["value_loss"]) / updates,
            grad_norm=float(self.policy.get_global_grad_norm() or 0.0),
            nonfinite_microbatches=0 if math.isfinite(stats["policy_loss"] + stats["value_loss"]) else 1,
            details={"clip_fraction": stats["clip_fraction"] / updates, "kl_per_token": kl[valid].mean().item(),
                     "value_mean": old_values[valid].mean().item()},
            shares={"policy_loss": stats["policy_loss"] / updates, "value_loss": stats["value_loss"] / updates},
        )

    @torch.no_grad()
    def _old_logprobs_and_values(self, tokens) -> tuple[torch.Tensor, torch.Tensor]:
        logprobs, values = [], []
        for rows in torch.split(torch.arange(len(tokens)), self.micro_batch_size):
            part = tokens.select(rows)
            logprobs.append(token_logprobs(self.policy.module, part, self.compute_dtype))
            values.append(self.critic.module(part))
        return torch.cat(logprobs), torch.cat(values) * tokens.response_mask

    def _policy_logprobs(self, part: TokenBatch) -> torch.Tensor:
        return token_logprobs(self.policy, part, self.compute_dtype)

    def _apply(self, policy_loss: torch.Tensor, value_loss: torch.Tensor) -> None:
        for engine, loss in ((self.policy, policy_loss), (self.critic, value_loss)):
            # already divided by the minibatch's token count; DeepSpeed averages the ranks' gradients
            engine.backward(loss * self.world_size, scale_wrt_gas=False)
            engine.step()


PPO = Algorithm("ppo", score_signal, updater=PPOTrainer.build, uses_beta=False, has_critic=True,
                update_size=lambda cfg, n: math.ceil(n / cfg.ppo_minibatches))
