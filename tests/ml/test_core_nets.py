"""ml.nets: the shared blocks behave as the papers describe, in fp32 and under bf16 autocast."""
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
