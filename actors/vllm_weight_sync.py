"""A vLLM worker extension that loads weights from safetensors bucket files.

Names avoid vLLM's own worker methods (update_weights, start_weight_update, finish_weight_update).
The model runner's reload_weights repacks weights the way the CPU backend needs; the model's own
load_weights after start-up does not (found on vLLM 0.32's CPU build: the engine then samples
from stale weights).
"""

from __future__ import annotations


class FileWeightLoader:
    def load_weights_from_files(self, paths: list[str]) -> int:
        """Load safetensors bucket files (written to shared memory by the RolloutEngine actor)."""
        import logging

        import torch
        from safetensors.torch import load_file

        # Every reload warns that RotaryEmbedding (no weights) and the tied lm_head "failed to load";
        # both are expected here and the lm_head is handled below, so keep the log readable.
        logging.getLogger("vllm.model_executor.model_loader.reload.layerwise").setLevel(logging.ERROR)
        loaded = 0

        def counted():
            nonlocal loaded
            for path in paths:
                for item in load_file(path).items():
                    loaded += 1
                    yield item

        self.model_runner.reload_weights(weights_iterator=counted())
        model = self.model_runner.get_model()
        if getattr(model.config, "tie_word_embeddings", False) and hasattr(model, "lm_head"):
            # vLLM 0.32's layer-wise reload skips a tied lm_head ("ParallelLMHead: Failed to load
            # weights"), so its CPU kernel keeps a packed copy of the old embedding: repack it.
            with torch.no_grad():
                if model.lm_head.weight.data_ptr() != model.model.embed_tokens.weight.data_ptr():
                    model.lm_head.weight.copy_(model.model.embed_tokens.weight)
            model.lm_head.quant_method.process_weights_after_loading(model.lm_head)
        return loaded
