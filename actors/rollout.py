"""The rollout generator: a vLLM engine that samples responses and takes new weights in place."""

from __future__ import annotations

import functools
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

from core.config import LoraConfig, RolloutConfig
from core.device import compute_device
from core.memory import ReportsMemory
from core.model_folder import scoring_length
from core.precision import concrete_dtype
from core.records import Prompt, Sample
from learner.lora import AdapterUpdate
from learner.shm_weights import check_same_host, shared_memory_dir

ENGINE_WATCH_S = 1.0  # how often a rollout engine checks that vLLM's engine-core process is alive


def exit_for_restart() -> None:
    """End this actor's process so that Ray restarts it (cluster.max_restarts) and the loop retries the call."""
    print("vLLM's engine-core process exited unexpectedly (killed, perhaps for memory); this rollout engine "
          "exits so that Ray restarts it", file=sys.stderr, flush=True)  # flushed: os._exit skips buffers
    os._exit(1)


def exit_when_engine_core_dies(llm) -> threading.Thread | None:
    """Exit the actor when vLLM's engine-core process dies (as the OOM killer would pick it). vLLM 0.32
    notices the death (its MPClient monitor sets resources.engine_dead) but a generate() already waiting for
    outputs waits forever: its output thread stops without waking it. An engine in this process (no
    engine-core process) has nothing to watch."""
    resources = getattr(getattr(llm.llm_engine, "engine_core", None), "resources", None)
    if not hasattr(resources, "engine_dead"):
        return None

    def watch() -> None:
        while not resources.engine_dead:
            time.sleep(ENGINE_WATCH_S)
        exit_for_restart()

    watcher = threading.Thread(target=watch, daemon=True, name="engine-core-watch")
    watcher.start()
    return watcher


def exits_when_engine_dead(cls: type) -> type:
    """Each public method of cls: a call made after the engine-core process died, before the watch noticed,
    gets vLLM's EngineDeadError; the actor exits then too, so every caller sees the same thing (the actor
    died, Ray restarts it). Matched by name: importing vLLM here would import it into the driver."""

    def guarded(method):
        @functools.wraps(method)
        def call(self, *args, **kwargs):
            try:
                return method(self, *args, **kwargs)
            except Exception as err:
                if type(err).__name__ == "EngineDeadError":
                    exit_for_restart()
                raise

        return call

    for name, method in list(vars(cls).items()):
        if callable(method) and not name.startswith("_"):
            setattr(cls, name, guarded(method))
    return cls


@exits_when_engine_dead
class RolloutEngine(ReportsMemory):
    def __init__(self, model_path: str, cfg: RolloutConfig, dtype: str, max_model_len: int, seed: int,
                 tensor_parallel: int = 1, weight_transport: str = "ray", lora: LoraConfig | None = None,
                 verbose: bool = False):
        """verbose: logging.verbose (vLLM's weight-loading bar)."""
        # The CPU build reads its KV-cache size from the environment of the process that starts it, and vLLM
        # whether its engine core gets a process of its own (two more processes that each import vLLM, on CPUs).
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(cfg.kv_cache_gib))
        os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "1" if cfg.separate_engine_process else "0"
        from vllm import LLM

        self.cfg = cfg
        self.policy_version = 0
        lora = lora if lora is not None and lora.enabled else None
        self.lora_request = None  # model.lora: the policy's current adapter (None: the base weights)
        self.adapter_loads = 0  # each loaded adapter gets the next id: vLLM caches adapters by id
        self.llm = LLM(
            model=model_path,
            dtype=concrete_dtype(dtype, compute_device().type == "cuda"),
            seed=seed,
            enforce_eager=cfg.enforce_eager,
            gpu_memory_utilization=cfg.gpu_memory_utilization,
            max_model_len=scoring_length(model_path, max_model_len),
            use_tqdm_on_load=verbose,
            worker_extension_cls="actors.vllm_weight_sync.FileWeightLoader",
            # on GPUs: shards on the GPUs of the placement group this actor was started in
            tensor_parallel_size=tensor_parallel,
            distributed_executor_backend="ray" if tensor_parallel > 1 else None,
            # nccl and shm: vLLM's weight-transfer engine (shm is ours, registered by the worker extension's module)
            **({"weight_transfer_config": {"backend": weight_transport}} if weight_transport != "ray" else {}),
            **(_lora_options(lora, model_path) if lora else {}),
        )
        exit_when_engine_core_dies(self.llm)
        if lora and lora.adapter_path:
            self.load_adapter(AdapterUpdate(folder=lora.adapter_path), 0)

    def generate(self, prompts: list[Prompt], n: int, seed: int, iteration: int, step: int,
                 split: str = "train", greedy: bool = False) -> list[Sample]:
        """n samples per prompt, with the sampled tokens' log-probs under the generating policy
        (greedy: the single most likely answer per prompt, n must be 1)."""
        from vllm import SamplingParams

        temperature, top_p = (0.0, 1.0) if greedy else (self.cfg.temperature, self.cfg.top_p)
        params = SamplingParams(n=n, temperature=temperature, top_p=top_p,
                                max_tokens=self.cfg.max_new_tokens, logprobs=0, seed=seed)
        outputs = self.llm.generate([{"prompt_token_ids": p.token_ids} for p in prompts], params, use_tqdm=False,
                                    lora_request=self.lora_request)
        samples = []
        for prompt, output in zip(prompts, outputs):
            for j, completion in enumerate(output.outputs):
                token_ids = list(completion.token_ids)
                samples.append(Sample(
                    sample_id=f"{split}-i{iteration}-s{step}-{prompt.prompt_id}-n{j}",
                    prompt_id=prompt.prompt_id,
                    prompt_text=prompt.text,
                    prompt_token_ids=list(prompt.token_ids),
                    response_token_ids=token_ids,
                    response_text=completion.text,
                    behaviour_logprobs=[lp[t].logprob for lp, t in zip(completion.logprobs, token_ids)],
                    finish_reason=completion.finish_reason or "length",
                    policy_version=self.policy_version,
                    iteration=iteration,
                    step=step,
                    prompt_messages=prompt.messages,
                    answer=prompt.answer,
                ))
        return samples

    def load_weights(self, buckets: list[bytes], version: int) -> None:
        # vLLM's collective_rpc pickles its arguments through to the worker process; files in shared
        # memory that the worker reads back are faster (bench/weight_sync.py: 100M parameters loaded in 0.83 s instead of 3.1 s)
        with tempfile.TemporaryDirectory(dir=shared_memory_dir()) as folder:
            paths = []
            for i, bucket in enumerate(buckets):
                paths.append(os.path.join(folder, f"bucket-{i}.safetensors"))
                with open(paths[-1], "wb") as file:
                    file.write(bucket)
            self.llm.collective_rpc("load_weights_from_files", args=(paths,))
        self.llm.reset_prefix_cache()  # cached KV blocks were computed by the old weights
        self.policy_version = version

    def load_adapter(self, update: AdapterUpdate, version: int) -> None:
        """model.lora: the policy's new adapter, served from the next call on; the previous one is removed (the
        engine holds one at a time). Its files are read here, so the folder may change after."""
        from vllm.lora.request import LoRARequest

        with tempfile.TemporaryDirectory(dir=shared_memory_dir()) as received:
            folder = update.folder
            if update.files:  # cluster.weight_transport ray: the folder's files came through Ray's object store
                folder = received
                for name, data in update.files.items():
                    (Path(received) / name).write_bytes(data)
            elif update.host:
                check_same_host(update.host)
            self.adapter_loads += 1
            request = LoRARequest(f"policy-v{version}-{self.adapter_loads}", self.adapter_loads, folder)
            self.llm.llm_engine.add_lora(request)
        if self.lora_request is not None:
            self.llm.llm_engine.remove_lora(self.lora_request.lora_int_id)
        self.lora_request = request
        self.policy_version = version

    def load_shared_weights(self, update: dict, version: int) -> None:
        """cluster.weight_transport shm: the weights learner rank 0 wrote to shared memory, loaded through vLLM's
        weight-transfer API (start, update, finish: the calls the nccl transport's client makes)."""
        from vllm.distributed.weight_transfer.base import WeightTransferUpdateRequest

        self.llm.start_weight_update()
        self.llm.update_weights(WeightTransferUpdateRequest(update_info=update))
        self.finish_weight_update()
        self.policy_version = version

    # cluster.weight_transport nccl: learner rank 0 drives these through vLLM's RayVLLMWeightSyncClient
    def init_weight_transfer_engine(self, request) -> None:
        self.llm.init_weight_transfer_engine(request)

    def start_weight_update(self) -> None:
        self.llm.start_weight_update()

    def update_weights(self, request) -> None:
        self.llm.update_weights(request)

    def finish_weight_update(self, weight_version: str | None = None) -> None:
        self.llm.finish_weight_update(weight_version)
        self.llm.reset_prefix_cache()

    def update_weight_version(self, version: str) -> None:
        self.llm.update_weight_version(version)
        self.policy_version = int(version)

    def next_token_logprobs(self, prefixes: list[list[int]], candidates: list[int]) -> list[list[float]]:
        """For each prefix, the log-prob of each candidate token coming next (a judge's score digits)."""
        from vllm import SamplingParams

        requests = [{"prompt_token_ids": prefix + [c]} for prefix in prefixes for c in candidates]
        outputs = self.llm.generate(requests, SamplingParams(max_tokens=1, prompt_logprobs=0), use_tqdm=False,
                                    lora_request=self.lora_request)
        flat = [out.prompt_logprobs[-1][req["prompt_token_ids"][-1]].logprob for req, out in zip(requests, outputs)]
        k = len(candidates)
        return [flat[i : i + k] for i in range(0, len(flat), k)]

    def sample_texts(self, prefixes: list[list[int]], n: int, temperature: float, top_p: float, max_tokens: int,
                     seeds: list[int]) -> list[list[str]]:
        """n sampled continuations of each prefix (a judge's replies), one seed per prefix."""
        from vllm import SamplingParams

        params = [SamplingParams(n=n, temperature=temperature, top_p=top_p, max_tokens=max_tokens, seed=seed)
                  for seed in seeds]
        outputs = self.llm.generate([{"prompt_token_ids": p} for p in prefixes], params, use_tqdm=False,
                                    lora_request=self.lora_request)
        return [[completion.text for completion in output.outputs] for output in outputs]

    def score(self, samples: list[Sample]) -> list[list[float]]:
        """The engine's log-probs of each sample's response tokens: a weight push's check, or, for an engine
        serving the reference (learner.reference_engine vllm), the reference scorer's answer."""
        from vllm import SamplingParams

        params = SamplingParams(max_tokens=1, prompt_logprobs=0)
        requests = [{"prompt_token_ids": s.prompt_token_ids + s.response_token_ids} for s in samples]
        outputs = self.llm.generate(requests, params, use_tqdm=False, lora_request=self.lora_request)
        rows = []
        for sample, output in zip(samples, outputs):
            start = len(sample.prompt_token_ids)
            tokens = sample.prompt_token_ids + sample.response_token_ids
            rows.append([output.prompt_logprobs[t][tokens[t]].logprob for t in range(start, len(tokens))])
        return rows


def _lora_options(lora: LoraConfig, model_path: str) -> dict:
    """vLLM's LoRA serving: one adapter in use, room for the next while it loads, on the adapted layers only."""
    from learner.lora import served_modules, vllm_max_rank

    return {"enable_lora": True, "max_lora_rank": vllm_max_rank(lora.rank), "max_loras": 1, "max_cpu_loras": 2,
            "lora_target_modules": served_modules(lora, model_path)}
