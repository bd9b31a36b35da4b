"""Model cards, sha256 verification before loading, no pickle, and the [0, 1] input convention."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import pytest
import torch

from medrdf_gui.imaging import load_study
from medrdf_gui.modelzoo import (ModelLoadError, ModelNotFoundError, load_model, load_model_cached, resolve_card,
                                 study_to_tensor)
from medrdf_gui.modelzoo.testing import write_untrained_model


@pytest.fixture()
def model_copy(tmp_path: Path, tiny_model_card: Path) -> Path:
    for f in tiny_model_card.parent.glob("tiny-untrained.*"):
        shutil.copy(f, tmp_path / f.name)
    return tmp_path / "tiny-untrained.json"


def test_loaded_model_normalises_inside(tiny_model) -> None:
    x = torch.rand(2, 1, 32, 32)
    expected = tiny_model.module.net((x - 0.5) / 0.25)
    assert torch.allclose(tiny_model.module(x), expected)
    assert not tiny_model.module.training
    assert tiny_model.classes == ["covid", "normal", "viral_pneumonia"]


def test_input_tensor_is_what_predict_feeds(tiny_model, cxr_png: Path) -> None:
    x = tiny_model.input_tensor(cxr_png)
    assert x.shape == (1, 1, 32, 32) and x.dtype == torch.float32
    assert 0 <= float(x.min()) and float(x.max()) <= 1
    assert torch.equal(x, study_to_tensor(load_study(cxr_png), tiny_model.card))


def test_colour_model_gets_three_channels(tmp_path: Path, cxr_png: Path) -> None:
    card = write_untrained_model(tmp_path, name="rgb", channels=3, size=28)
    x = load_model(card).input_tensor(cxr_png)
    assert x.shape == (1, 3, 28, 28) and torch.equal(x[:, 0], x[:, 1])


def test_tampered_weights_are_refused_naming_the_file(model_copy: Path) -> None:
    weights = model_copy.with_suffix(".safetensors")
    blob = bytearray(weights.read_bytes())
    blob[-1] ^= 0xFF
    weights.write_bytes(bytes(blob))
    with pytest.raises(ModelLoadError, match="does not match its card's sha256") as info:
        load_model(model_copy)
    assert str(weights) in str(info.value)


def test_missing_weights_and_missing_card(model_copy: Path, tmp_path: Path) -> None:
    model_copy.with_suffix(".safetensors").unlink()
    with pytest.raises(ModelLoadError, match="missing"):
        load_model(model_copy)
    with pytest.raises(ModelNotFoundError):
        load_model(tmp_path / "nope.json")
    with pytest.raises(ModelNotFoundError, match="not found"):
        resolve_card("no-such-model")


def test_broken_cards(model_copy: Path) -> None:
    model_copy.write_text("{not json")
    with pytest.raises(ModelLoadError, match="not valid JSON"):
        load_model(model_copy)
    model_copy.write_text(json.dumps({"name": "x"}))
    with pytest.raises(ModelLoadError, match="lacks"):
        load_model(model_copy)


def test_unknown_architecture(model_copy: Path) -> None:
    data = json.loads(model_copy.read_text())
    data["architecture"] = "vit-huge"
    model_copy.write_text(json.dumps(data))
    with pytest.raises(ModelLoadError, match="unknown architecture"):
        load_model(model_copy)


def test_a_pickle_is_never_loaded(model_copy: Path, tmp_path: Path) -> None:
    """A pickle under the expected name, even with a matching sha256 in the card, is refused by safetensors —
    and unpickling never happens (the payload would create a marker file)."""
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    weights = model_copy.with_suffix(".safetensors")
    weights.write_bytes(pickle.dumps(Payload()))
    import hashlib

    data = json.loads(model_copy.read_text())
    data["sha256"] = hashlib.sha256(weights.read_bytes()).hexdigest()
    model_copy.write_text(json.dumps(data))
    with pytest.raises(ModelLoadError, match="not a valid safetensors"):
        load_model(model_copy)
    assert not marker.exists()


def test_weights_of_another_shape_are_refused(tmp_path: Path) -> None:
    card = write_untrained_model(tmp_path, name="wide", width=16)
    data = json.loads(card.read_text())
    data["arch_options"] = {"width": 8}
    card.write_text(json.dumps(data))
    with pytest.raises(ModelLoadError, match="does not fit"):
        load_model(card)


def test_the_model_cache_returns_the_same_model_until_its_files_change(tmp_path: Path) -> None:
    card_path = write_untrained_model(tmp_path, name="cached", size=32, seed=1)
    first = load_model_cached(card_path)
    assert load_model_cached(card_path) is first and load_model_cached(str(card_path)) is first
    write_untrained_model(tmp_path, name="cached", size=32, seed=2)  # new weights and card, same paths
    second = load_model_cached(card_path)
    assert second is not first and second.sha256 != first.sha256
    assert load_model_cached(card_path) is second


def test_the_model_cache_still_refuses_changed_weights(tmp_path: Path) -> None:
    card_path = write_untrained_model(tmp_path, name="cached", size=32)
    load_model_cached(card_path)
    with (tmp_path / "cached.safetensors").open("ab") as fh:  # size and mtime change: verified again
        fh.write(b"tampered")
    with pytest.raises(ModelLoadError, match="sha256"):
        load_model_cached(card_path)
