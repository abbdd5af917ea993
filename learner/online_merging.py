"""The online merging optimizer (Lu et al. 2024) around a DeepSpeed engine's optimizer steps.

Each optimizer step's update Delta (what AdamW did) is replaced by OnDARE's or OnTIES's merge of Delta
with the supervised task vector tau = theta_SFT - theta_base (learner/merging.py). Under ZeRO 1 and 2
the optimizer steps on its own fp32 master copy of the weights, so the merged weights are written there
(through DeepSpeed's tensor-fragment API) as well as into the module; otherwise the next step would
undo the merge. Costs one copy of the weights for tau and one for the snapshot before each step.
"""

from __future__ import annotations

import torch

from learner.merging import drop_and_rescale, ondare_update, onties_update, trim_to_top
from learner.weights import load_model_weights


class OnlineMerging:
    def __init__(self, module: torch.nn.Module, base_path: str, sft_path: str, method: str, keep_rate: float,
                 alpha: float, seed: int):
        self.params = dict(module.named_parameters())
        self.method, self.keep_rate, self.alpha = method, keep_rate, alpha
        self.generator = torch.Generator().manual_seed(seed)
        base, sft = load_model_weights(base_path, parameters_only=True), load_model_weights(sft_path, parameters_only=True)
        missing = [name for name in self.params if name not in base or name not in sft]
        if missing:
            raise ValueError(f"learner.merging: the base or SFT model has no tensor {missing[0]} (of {len(missing)}); "
                             "both must have the policy's architecture")
        self.tau = {name: self._prepare(sft[name] - base[name]) for name in self.params}

    def _prepare(self, tau: torch.Tensor) -> torch.Tensor:
        """tau's mask is drawn (OnDARE) or its trim computed (OnTIES) once, at the start."""
        if self.method == "ondare":
            return drop_and_rescale(tau, self.keep_rate, self.generator)
        return trim_to_top(tau, self.keep_rate)

    def snapshot(self) -> dict[str, torch.Tensor]:
        return {name: _master(p).clone() for name, p in self.params.items()}

    @torch.no_grad()
    def merge_step(self, before: dict[str, torch.Tensor]) -> None:
        """Replace the update made since `before` by the merged update, in the master copy and the module."""
        from deepspeed.utils import safe_set_full_fp32_param

        for name, param in self.params.items():
            delta = _master(param) - before[name]
            if self.method == "ondare":
                update = ondare_update(delta, self.tau[name], self.keep_rate, self.alpha, self.generator)
            else:
                update = onties_update(delta, self.tau[name], self.keep_rate, self.alpha)
            merged = before[name] + update
            safe_set_full_fp32_param(param, merged)  # the optimizer's master copy (ZeRO 1, 2); no-op without
            param.data.copy_(merged.to(param.dtype))


def _master(param: torch.nn.Parameter) -> torch.Tensor:
    """The fp32 weights the optimizer steps on: ZeRO's master copy, or the parameter itself."""
    from deepspeed.utils import safe_get_full_fp32_param

    master = safe_get_full_fp32_param(param)
    return (master if master is not None else param.detach()).float()
