import pytest
import torch

from learner.merging import (
    drop_and_rescale,
    elect_sign,
    kth_largest_magnitudes,
    magnitude_counter,
    ondare_update,
    onties_update,
    soft_threshold,
    task_arithmetic,
    ties_merge,
    trim_to_top,
)


def test_dare_keeps_a_fraction_rescaled_by_one_over_p():
    delta = torch.full((200, 100), 0.3)
    dropped = drop_and_rescale(delta, 0.1, torch.Generator().manual_seed(0))
    kept = dropped != 0
    assert torch.allclose(dropped[kept], torch.tensor(3.0))  # 0.3 / 0.1
    assert 0.09 < kept.float().mean().item() < 0.11
    assert dropped.mean().item() == pytest.approx(0.3, rel=0.05)  # unbiased in expectation
    assert torch.equal(drop_and_rescale(delta, 1.0), delta)
    with pytest.raises(ValueError, match="reserve rate"):
        drop_and_rescale(delta, 0.0)


def test_trim_keeps_the_largest_magnitudes():
    delta = torch.tensor([0.1, -0.5, 0.3, -0.05])
    assert torch.equal(trim_to_top(delta, 0.5), torch.tensor([0.0, -0.5, 0.3, 0.0]))
    assert torch.equal(trim_to_top(delta, 0.01), torch.tensor([0.0, -0.5, 0.0, 0.0]))  # at least one entry


def test_trim_keeps_ties_and_handles_zeros_and_tiny_values():
    delta = torch.tensor([2.0, -2.0, 1e-30, 0.0, -0.0, 1.0])
    assert torch.equal(trim_to_top(delta, 0.3), torch.tensor([2.0, -2.0, 0, 0, 0, 0]))  # k 2: the tie is kept
    tiny = torch.tensor([0.0, 1e-30, -3e-38, 0.0])
    assert torch.equal(trim_to_top(tiny, 0.5), torch.tensor([0.0, 1e-30, -3e-38, 0.0]))


def test_thresholds_of_a_tensor_split_across_ranks_match_the_whole_tensor():
    generator = torch.Generator().manual_seed(0)
    tensors = [torch.randn(1000, generator=generator), torch.randn(37, generator=generator) * 1e-4]
    ks = torch.tensor([123, 5])
    # rank 0 holds the first 400 and 30 entries, rank 1 the rest: their counts are added (the all-reduce)
    rank0 = magnitude_counter([tensors[0][:400], tensors[1][:30]])
    rank1 = magnitude_counter([tensors[0][400:], tensors[1][30:]])
    thresholds = kth_largest_magnitudes(lambda bits: rank0(bits) + rank1(bits), ks)
    for tensor, k, threshold in zip(tensors, ks.tolist(), thresholds):
        assert threshold == tensor.abs().sort(descending=True).values[k - 1]
        assert (tensor.abs() >= threshold).sum() == k


def test_soft_threshold_moves_every_entry_towards_zero_and_stops_there():
    delta = torch.tensor([0.5, -0.25, 0.05, -0.1, 0.0])
    assert torch.allclose(soft_threshold(delta, 0.1), torch.tensor([0.4, -0.15, 0.0, 0.0, 0.0]))


def test_ondare_with_nothing_dropped_is_the_weighted_sum():
    delta, tau = torch.tensor([0.2, -0.4]), torch.tensor([1.0, 1.0])
    assert torch.allclose(ondare_update(delta, tau, 1.0, 0.25), torch.tensor([0.4, -0.05]))  # 0.75 d + 0.25 tau


def test_onties_trims_elects_a_sign_and_keeps_agreeing_entries():
    delta = torch.tensor([0.2, -0.1, 0.4, -0.3])
    tau_trimmed = trim_to_top(torch.tensor([-0.5, 0.2, 0.1, -0.6]), 0.5)  # [-0.5, 0, 0, -0.6]
    # trimmed delta [0, 0, 0.4, -0.3]; elected sign of the sum [-0.5, 0, 0.4, -0.9]: [-1, 0, +1, -1]
    assert torch.equal(elect_sign(trim_to_top(delta, 0.5), tau_trimmed), torch.tensor([-1.0, 0.0, 1.0, -1.0]))
    update = onties_update(trim_to_top(delta, 0.5), tau_trimmed, alpha=0.1)
    assert torch.allclose(update, torch.tensor([-0.05, 0.0, 0.36, -0.33]))  # 0.9 [0,0,.4,-.3] + 0.1 [-.5,0,0,-.6]


def test_ties_merge_is_the_disjoint_mean_of_agreeing_entries():
    a, b = torch.tensor([1.0, -2.0, 3.0]), torch.tensor([-3.0, 1.0, 1.0])
    # sign of the sum [-2, -1, 4]: [-1, -1, +1]; agreeing a [0, -2, 3], b [-3, 0, 1]
    assert torch.allclose(ties_merge([a, b], 1.0), torch.tensor([-3.0, -2.0, 2.0]))
    assert torch.allclose(task_arithmetic([a, b], [1.0, 0.5]), torch.tensor([-0.5, -1.5, 3.5]))


def test_paft_merge_of_three_models_loads_in_transformers(tmp_path, tiny_model_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from learner.merge_models import main

    base = AutoModelForCausalLM.from_pretrained(tiny_model_path)
    for name, shift in (("sft", 0.01), ("aligned", -0.02)):
        model = AutoModelForCausalLM.from_pretrained(tiny_model_path)
        with torch.no_grad():
            model.model.norm.weight.add_(shift)  # one tensor moves; the others keep the base's values
        model.save_pretrained(tmp_path / name)
    AutoTokenizer.from_pretrained(tiny_model_path).save_pretrained(tmp_path / "aligned")
    main(["--base", tiny_model_path, "--sft", str(tmp_path / "sft"), "--aligned", str(tmp_path / "aligned"),
          "--out", str(tmp_path / "merged"), "--method", "task_arithmetic", "--density", "1.0"])
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged")
    assert torch.allclose(merged.model.norm.weight, base.model.norm.weight - 0.01, atol=1e-6)  # +0.01 - 0.02
    assert torch.equal(merged.model.embed_tokens.weight, base.model.embed_tokens.weight)
    assert (tmp_path / "merged" / "tokenizer.json").is_file()


def test_merging_models_of_different_shapes_names_the_tensor():
    from learner.merge_models import merge_state_dicts

    base = {"w": torch.zeros(2, 2)}
    with pytest.raises(ValueError, match=r"tensor w: shapes \(2, 2\)"):
        merge_state_dicts(base, {"w": torch.zeros(3)}, {"w": torch.zeros(2, 2)}, "ties", 0.5)
