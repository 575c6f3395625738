"""models.unet and models.checkpoint: the tutorial's architecture, safe self-describing files."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch

from models.checkpoint import (
    ModelLoadError,
    bundled_models,
    default_model_path,
    load_model,
    read_metadata,
    save_model,
)
from models.unet import UNet, build_network, count_parameters, fuse_batch_norm

torch.set_num_threads(1)

ARCH = {
    "type": "unet2d", "in_channels": 6, "num_classes": 4, "base_width": 4, "depth": 3,
    "dropout": 0.1, "batch_norm": True, "up_mode": "transpose",
}


def _metadata(arch=ARCH) -> dict:
    return {
        "name": "tiny",
        "modalities": ["flair", "t1ce"],
        "classes": {0: "background", 1: "NCR/NET", 2: "edema", 3: "enhancing"},
        "label_convention": "internal 0-3",
        "preprocessing": {"normalisation": "zscore_brain", "crop": "brain_box", "margin": 1, "resize": None,
                          "context": 1, "size_multiple": 4, "clip": None},
        "architecture": arch,
        "training": {"command": "test"},
        "metrics": {"validation": {"val_dice_WT": 0.5}},
        "licence": "test",
    }


def _trained_like(network: torch.nn.Module) -> torch.nn.Module:
    """Give batch-norm layers non-trivial running statistics, as after training."""
    network.train()
    with torch.no_grad():
        for _ in range(3):
            network(torch.randn(4, network.down[0][0].in_channels, 16, 16) * 3 + 1)
    return network.eval()


def test_tutorial_unet_has_the_published_parameter_count() -> None:
    net = UNet(2, 4, base_width=32, depth=5, dropout=0.2, batch_norm=False, up_mode="upsample_conv")
    assert count_parameters(net) == 7_759_908


def test_output_shape_and_size_multiple() -> None:
    net = build_network(ARCH).eval()
    assert net.size_multiple == 4
    with torch.no_grad():
        out = net(torch.randn(2, 6, 24, 20))
    assert out.shape == (2, 4, 24, 20)


def test_build_network_refuses_unknown_type_and_keys() -> None:
    with pytest.raises(ValueError, match="unknown architecture type"):
        build_network({**ARCH, "type": "vnet"})
    with pytest.raises(ValueError, match="unknown architecture key"):
        build_network({**ARCH, "heads": 3})
    with pytest.raises(ValueError, match="in_channels"):
        build_network({k: v for k, v in ARCH.items() if k != "in_channels"})


def test_fused_batch_norm_gives_the_same_outputs() -> None:
    torch.manual_seed(0)
    net = _trained_like(build_network(ARCH))
    x = torch.randn(3, 6, 16, 16)
    with torch.no_grad():
        ref = net(x)
        fused = fuse_batch_norm(net)(x)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
    assert torch.allclose(ref, fused, atol=1e-5)


def test_checkpoint_round_trip_gives_identical_outputs(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = _trained_like(build_network(ARCH))
    path = save_model(tmp_path / "m.pt", net, _metadata())
    assert (tmp_path / "m.json").exists()  # human-readable copy of the metadata
    x = torch.randn(2, 6, 16, 16)
    exact = load_model(path, fuse=False)
    with torch.no_grad():
        assert torch.equal(net(x), exact.network(x))
        assert torch.allclose(net(x), load_model(path).network(x), atol=1e-5)
    assert not exact.network.training
    assert exact.metadata["classes"] == {0: "background", 1: "NCR/NET", 2: "edema", 3: "enhancing"}
    assert exact.modalities == ["flair", "t1ce"]
    assert read_metadata(path)["metrics"]["validation"]["val_dice_WT"] == 0.5


class _Exploit:
    """Pickling this makes unpickling call os.system: what a booby-trapped checkpoint does."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_malicious_pickle_is_refused_and_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    net = build_network(ARCH)
    torch.save(
        {"format": "brats-desktop-model", "version": 1, "metadata_json": "{}",
         "state_dict": net.state_dict(), "payload": _Exploit(marker)},
        evil,
    )
    with pytest.raises(ModelLoadError, match="refused") as info:
        load_model(evil)
    assert info.value.path == evil
    assert not marker.exists()
    # a raw pickle (not even a torch zip) is refused as well
    raw = tmp_path / "raw.pt"
    raw.write_bytes(pickle.dumps(_Exploit(marker)))
    with pytest.raises(ModelLoadError):
        load_model(raw)
    assert not marker.exists()


def test_unusable_files_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="not found"):
        load_model(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00not a model at all")
    with pytest.raises(ModelLoadError, match="junk.pt"):
        load_model(junk)
    plain = tmp_path / "plain.pt"
    torch.save({"weights": torch.zeros(3)}, plain)
    with pytest.raises(ModelLoadError, match="not a BraTS Desktop model"):
        load_model(plain)
    wrong = tmp_path / "wrong.pt"
    save_model(wrong, build_network(ARCH), _metadata({**ARCH, "base_width": 8}))
    with pytest.raises(ModelLoadError, match="do not match"):
        load_model(wrong)
    with pytest.raises(ValueError, match="modalities"):
        save_model(tmp_path / "x.pt", build_network(ARCH), {k: v for k, v in _metadata().items() if k != "modalities"})


def test_bundled_model_paths_live_in_models_bundled() -> None:
    default = default_model_path()
    assert default.parent.name == "bundled" and default.suffix == ".pt"
    found = bundled_models()
    assert all(p.parent == default.parent for p in found)
    if default.exists():
        assert found[0] == default
        meta = load_model(default).metadata
        assert meta["modalities"] == ["flair", "t1ce"]
        assert "CC BY-NC-SA" in meta["licence"]
        assert default.stat().st_size <= 20 * 1024 * 1024
