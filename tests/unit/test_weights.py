import torch

from learner.weights import deserialize_state_dict, serialize_state_dict


def test_round_trip_keeps_tied_tensors_once():
    shared = torch.randn(4, 3)
    state = {"embed.weight": shared, "lm_head.weight": shared, "norm.weight": torch.ones(3)}
    restored = deserialize_state_dict(serialize_state_dict(state))
    assert sorted(restored) == ["embed.weight", "norm.weight"]
    assert torch.equal(restored["embed.weight"], shared)
    assert torch.equal(restored["norm.weight"], torch.ones(3))
