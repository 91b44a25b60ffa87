"""ml.nets: the shared blocks behave as the papers describe, in fp32 and under bf16 autocast."""
import pytest
import torch

from ml.nets import ChannelL2Norm, ConvBlock, LabelConditionedDiscriminator, make_norm
from ml.runtime import configure_torch

configure_torch()


def test_channel_l2_norm_unit_length_then_scale_and_shift():
    norm = ChannelL2Norm()
    with torch.no_grad():
        norm.scale.fill_(3.0)
        norm.shift.fill_(0.5)
    x = torch.randn(2, 7, 4, 5)
    y = norm(x)
    assert torch.allclose((y - 0.5).norm(dim=1), torch.full((2, 4, 5), 3.0), atol=1e-5)
    assert [p.shape for p in norm.parameters()] == [torch.Size([1]), torch.Size([1])]


def test_norms_stay_float32_under_autocast():
    block = ConvBlock(3, 8, 3, stride=2, norm="l2", act="lrelu")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = block(torch.randn(1, 3, 8, 8))
        assert out.dtype == torch.float32
        assert make_norm("instance", 8)(torch.randn(1, 8, 4, 4).bfloat16()).dtype == torch.float32


def test_transposed_block_doubles_size():
    block = ConvBlock(4, 2, 3, stride=2, padding=1, transposed=True)
    assert block(torch.randn(1, 4, 5, 5)).shape == (1, 2, 10, 10)


def test_label_conditioned_discriminator_pools_to_its_scale():
    critic = LabelConditionedDiscriminator(image_size=32, n_labels=3, channels=(4, 8, 8, 16))
    assert critic(torch.randn(2, 3, 64, 64), torch.ones(2, 3)).shape == (2, 1)
    assert critic.head.in_features == 16 * 2 * 2


def test_folding_batch_norms_into_convs_keeps_the_output_and_leaves_other_norms():
    from torch import nn

    from ml.nets import fold_batch_norms_

    torch.manual_seed(0)
    network = nn.Sequential(ConvBlock(3, 8, norm="batch", act="relu"), ConvBlock(8, 8, norm="batch"),
                            ConvBlock(8, 4, norm="instance"), ConvBlock(4, 4, stride=2, norm="batch", transposed=True))
    with torch.no_grad():  # running statistics away from (0, 1), as training leaves them
        for _ in range(20):
            network(torch.randn(4, 3, 16, 16) * 3 + 1)
    with pytest.raises(ValueError, match="eval mode"):
        fold_batch_norms_(network)
    network.eval()
    image = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        before = network(image)
        assert fold_batch_norms_(network) == 2  # not the instance norm, nor the transposed conv's
        after = network(image)
    assert isinstance(network[0].norm, nn.Identity) and isinstance(network[1].norm, nn.Identity)
    assert not isinstance(network[2].norm, nn.Identity) and not isinstance(network[3].norm, nn.Identity)
    assert torch.allclose(before, after, atol=1e-5)
