import torch

from learner.weights import deserialize_state_dict, iter_buckets, serialize_buckets, serialize_state_dict


def test_round_trip_keeps_tied_tensors_once():
    shared = torch.randn(4, 3)
    state = {"embed.weight": shared, "lm_head.weight": shared, "norm.weight": torch.ones(3)}
    restored = deserialize_state_dict(serialize_state_dict(state))
    assert sorted(restored) == ["embed.weight", "norm.weight"]
    assert torch.equal(restored["embed.weight"], shared)
    assert torch.equal(restored["norm.weight"], torch.ones(3))


def test_buckets_stay_under_the_size_and_rebuild_the_state_dict():
    state = {f"layer{i}.weight": torch.full((16,), float(i)) for i in range(5)}  # 64 bytes each
    state["big.weight"] = torch.zeros(64)  # 256 bytes: larger than a bucket, so a bucket of its own
    buckets = serialize_buckets(state, bucket_bytes=130)
    assert [sorted(deserialize_state_dict(b)) for b in buckets] == [
        ["layer0.weight", "layer1.weight"], ["layer2.weight", "layer3.weight"], ["layer4.weight"], ["big.weight"]]
    restored = dict(iter_buckets(buckets))
    assert sorted(restored) == sorted(state)
    assert all(torch.equal(restored[k], v) for k, v in state.items())
