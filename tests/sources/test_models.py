import pytest
import torch
from torch import nn

from landscape import LandscapeError, activation_factory, resnet


def test_resnet20_parameter_count_and_output_shape():
    model = resnet(20, activation_factory("relu"))
    # He et al. 2016, table 6: ResNet-20 has 0.27 M parameters (option-A shortcuts).
    assert sum(p.numel() for p in model.parameters()) == 269_722
    assert model(torch.randn(3, 3, 32, 32)).shape == (3, 10)


@pytest.mark.parametrize("depth,blocks", [(8, 1), (20, 3), (32, 5), (56, 9)])
def test_depth_sets_blocks_per_stage(depth, blocks):
    model = resnet(depth, activation_factory("relu"))
    assert len(model.stage1) == len(model.stage2) == len(model.stage3) == blocks
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) + 1 == depth  # every conv plus the final linear layer


def test_activation_is_injected_at_every_site():
    model = resnet(20, activation_factory("leaky_relu", negative_slope=0.3))
    sites = [m for m in model.modules() if isinstance(m, nn.LeakyReLU)]
    assert len(sites) == 1 + 2 * 9 and all(m.negative_slope == 0.3 for m in sites)
    assert not any(isinstance(m, nn.ReLU) for m in model.modules())


def test_bad_depth_is_refused():
    with pytest.raises(LandscapeError, match="6n \\+ 2.*got 21"):
        resnet(21, activation_factory("relu"))


def test_shortcut_pads_channels_with_zeros():
    model = resnet(8, activation_factory("relu"))
    x = torch.randn(2, 16, 8, 8)
    out = model.stage2[0].shortcut(x)
    assert out.shape == (2, 32, 4, 4)
    assert torch.equal(out[:, 8:24], x[:, :, ::2, ::2]) and not out[:, :8].any() and not out[:, 24:].any()


def test_the_notebook_front_shrinks_images_as_the_paper_network_does():
    """Two unpadded 5×5 convolutions take 8 pixels, the 2×2 pool halves: 32 → 12 (CIFAR), 28 → 10 (MNIST)."""
    from landscape.sources.models import MLP, conv_front, conv_front_features

    for channels, side, features in ((3, 32, 50 * 12 * 12), (1, 28, 50 * 10 * 10)):
        front = conv_front(channels, activation_factory("mish"))
        assert front(torch.randn(2, channels, side, side)).flatten(1).shape[1] == features
        assert conv_front_features(channels, side) == features
        model = MLP(features, (16, 16), 10, activation_factory("relu"), batch_norm=True, front=front).eval()
        assert model(torch.randn(2, channels, side, side)).shape == (2, 10)
    with pytest.raises(LandscapeError, match="at least 10×10"):
        conv_front_features(3, 8)
