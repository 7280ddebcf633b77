"""Shared fixtures: tiny random-weight nets and small images, so tests never download anything."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Each test session converts the bundled weights into its own cache, never the user's."""
    cache = tmp_path_factory.getbasetemp() / "stylegram-cache"
    monkeypatch.setenv("STYLEGRAM_CACHE", str(cache))
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def tiny_net():
    """VGG16 layout at 1/8 width with seeded He weights: fast, offline, deterministic."""
    from stylegram.nets.random import random_vgg
    return random_vgg("vgg16", seed=0, width=0.125)


@pytest.fixture(scope="session")
def hed_net():
    """The real default net (bundled weights), built once per test session."""
    from stylegram.nets import build_net
    return build_net("vgg16-hed")


@pytest.fixture
def shared() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared is not beside the checkout")
    return SHARED


@pytest.fixture
def examples() -> Path:
    return REPO / "examples"


@pytest.fixture
def pair(tmp_path):
    """A small content photo stand-in and a noise 'painting', written as PNG files."""
    from stylegram import save_image
    c, s = tmp_path / "c.png", tmp_path / "s.png"
    save_image(gradient_image(48, 64, 0), c)
    save_image(torch.rand(1, 3, 48, 48, generator=torch.Generator().manual_seed(1)), s)
    return c, s


def gradient_image(h: int = 48, w: int = 64, seed: int = 0) -> torch.Tensor:
    """A smooth test image (1, 3, h, w) in 0..1 with some texture."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    base = torch.stack([xx, yy, (xx + yy) / 2])[None]
    return (0.8 * base + 0.2 * torch.rand(1, 3, h, w, generator=g)).clamp(0, 1)
