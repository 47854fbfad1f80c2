import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone

from skexplain.models import SequenceTransformer, TransformerSequenceClassifier, VisionTransformer
from tests.planted_motifs import random_sequences

STEM = [{"filters": 8, "kernel_size": 5, "dropout": 0.0, "pool": 4}]


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_net(**params):
    defaults = dict(architecture=STEM, n_heads=2, n_layers=1, dim_feedforward=16,
                    max_epochs=2, random_state=0, verbose=0)
    return TransformerSequenceClassifier(**{**defaults, **params})


@pytest.mark.parametrize("pooling, prefix", [("cls", 1), ("mean", 0)])
def test_sequence_transformer_tokens_and_outputs(pooling, prefix):
    net = SequenceTransformer(n_outputs=3, input_length=50, architecture=STEM, n_heads=2,
                              pooling=pooling).eval()
    assert net(torch.zeros(2, 4, 50)).shape == (2, 3)
    assert net.token_shape == (13,) and net.n_prefix_tokens == prefix
    assert net.position.shape == (1, 13 + prefix, 8)
    with pytest.raises(ValueError, match="divisible by n_heads"):
        SequenceTransformer(architecture=STEM, n_heads=3)
    with pytest.raises(ValueError, match="pooling"):
        SequenceTransformer(pooling="max")
    with pytest.raises(ValueError, match="too short"):
        SequenceTransformer(input_length=3, architecture=[
            {"filters": 8, "kernel_size": 5, "dropout": 0.0, "pool": 4, "padding": "valid"}])


def test_vision_transformer_shapes():
    vit = VisionTransformer(n_outputs=5, image_size=(32, 48), patch_size=16, d_model=16,
                            n_heads=2, n_layers=1).eval()
    assert vit(torch.zeros(2, 3, 32, 48)).shape == (2, 5)
    assert vit.token_shape == (2, 3) and vit.n_prefix_tokens == 1
    with pytest.raises(ValueError, match="multiple of patch_size"):
        VisionTransformer(image_size=40, patch_size=16)


def test_fit_is_reproducible_and_clone_pickle_keep_the_model():
    X = random_sequences(60, length=24)
    y = np.arange(60) % 2
    net = tiny_net(n_layers=2).fit(X, y)
    proba = net.predict_proba(X)
    assert proba.shape == (60, 2)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(tiny_net(n_layers=2).fit(X, y).predict_proba(X), proba)
    params = clone(net).get_params()
    assert params["n_layers"] == 2 and params["pooling"] == "cls"
    assert len(net.module_.encoder.layers) == 2
    restored = pickle.loads(pickle.dumps(net))
    np.testing.assert_array_equal(restored.predict_proba(X), proba)
    assert net.first_layer_activations(X[:3]).shape == (3, 8, 24)


def test_multiclass_and_module_parameters():
    X = random_sequences(45, length=16)
    y = np.arange(45) % 3
    net = tiny_net(pooling="mean", module__dim_feedforward=8, train_split=None).fit(X, y)
    assert net.predict_proba(X).shape == (45, 3)
    assert net.module_.encoder.layers[0].linear1.out_features == 8
    assert net.module_.n_prefix_tokens == 0
