"""A Hugging Face model folder checked before any actor loads it: a config, weights, and no damaged file."""

from __future__ import annotations

import json
from pathlib import Path

from core.config import ConfigError


def weights_bytes(path: str) -> int:
    """The size of a model folder's weight files (*.safetensors, *.bin)."""
    folder = Path(path)
    return sum(f.stat().st_size for pattern in ("*.safetensors", "*.bin") for f in folder.glob(pattern))


def scoring_length(path: str, max_model_len: int) -> int:
    """The sequence length a vLLM engine of the model in `path` is sized for: one token more than the longest
    sample (scoring a sample asks for its prompt log-probs and one token after them), within the positions
    its config.json allows."""
    positions = json.loads((Path(path) / "config.json").read_text()).get("max_position_embeddings")
    return max_model_len + 1 if positions is None else max(max_model_len, min(max_model_len + 1, positions))


def check_model_folder(path: str, key: str) -> str:
    """`path` (the value of config key `key`) if it is a loadable model folder, else a ConfigError naming it.

    A truncated or damaged safetensors file is found here from its header alone (cheap), not minutes later
    as vLLM's "Engine core initialization failed" after the other actors started."""
    from safetensors import SafetensorError, safe_open

    folder = Path(path)
    if not (folder / "config.json").is_file():
        raise ConfigError(f"{key} {path} is not a Hugging Face model folder (no config.json)")
    weights = sorted(folder.glob("*.safetensors"))
    if not weights and not any(folder.glob("*.bin")):
        raise ConfigError(f"{key} {path} has no weights (*.safetensors or *.bin files)")
    for file in weights:
        try:
            with safe_open(str(file), "pt"):
                pass
        except (SafetensorError, OSError) as err:
            raise ConfigError(f"{key} {path}: {file.name} is damaged or incomplete ({err}); copy or export the model "
                              "again") from None
    return path
