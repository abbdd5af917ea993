"""What the terminal shows. By default: our own log lines, the plan, progress bars and the final table; the
warnings of vLLM, DeepSpeed, transformers, torch and Ray (which a user cannot act on) only with `--verbose`
(logging.verbose). Errors always come through: the libraries still log errors, an actor's exception reaches the
driver with its traceback, and a process that dies prints what it printed before dying (Ray forwards every
actor's output; only the libraries' own warnings are turned down at their source).
"""

from __future__ import annotations

import logging
import os
import warnings

# Each library's own switch, read when it is imported, in every actor process and the processes they start.
_QUIET_ENVIRONMENT = {
    "VLLM_LOGGING_LEVEL": "ERROR",
    "TRANSFORMERS_VERBOSITY": "error",
    "DATASETS_VERBOSITY": "error",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",  # transformers' "Loading weights" and "Writing model shards" bars
    "TORCH_CPP_LOG_LEVEL": "ERROR",  # torch's C++ warnings (NUMA binding, ...)
    "PYTHONWARNINGS": "ignore",  # DeprecationWarning and FutureWarning from inside the libraries
}
_VERBOSE_ENVIRONMENT = {"VLLM_LOGGING_LEVEL": "WARNING"}  # vLLM's INFO is a page per engine start
# lines printed before a library reads its switch (vLLM warns about Triton while importing, in each of its
# processes): the driver drops them when Ray forwards the actors' output
_UNSWITCHABLE_LINES = r"Triton is installed, but doesn't include CPU backend"
_THIRD_PARTY_LOGGERS = ("ray", "transformers", "datasets", "torch", "vllm", "DeepSpeed", "urllib3", "filelock",
                        "matplotlib")  # matplotlib's font-cache notices on a first run (curves.png)
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def actor_environment(verbose: bool, gpus: float) -> dict[str, str]:
    """Environment variables for an actor (actors/placement.py puts them in its runtime_env)."""
    env = dict(_VERBOSE_ENVIRONMENT if verbose else _QUIET_ENVIRONMENT)
    env["DS_ACCELERATOR"] = "cuda" if gpus else "cpu"  # said, not guessed: DeepSpeed warns when it has to guess
    return env


def configure_driver(verbose: bool) -> None:
    """The driver's logging: our INFO lines always, the libraries' warnings only when verbose."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    logging.getLogger("matplotlib").setLevel(logging.WARNING)  # "generated new fontManager": its INFO, even verbose
    if "DS_ACCELERATOR" not in os.environ:  # transformers imports DeepSpeed here too (building the tiny model)
        import torch

        os.environ["DS_ACCELERATOR"] = "cuda" if torch.cuda.is_available() else "cpu"
    if verbose:
        return
    for name in _THIRD_PARTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    for key, value in _QUIET_ENVIRONMENT.items():  # libraries the driver imports later read them too
        os.environ.setdefault(key, value)
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # its database set-up lines
    os.environ.setdefault("RAY_DEDUP_LOGS_SKIP_REGEX", _UNSWITCHABLE_LINES)  # read when ray is imported
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"(torch|transformers|vllm|ray|deepspeed|peft)\b")
