"""Network dissection against closed forms (hand-built detectors) and a planted-motif CNN."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_set_params,
)
from torch import nn

from skexplain.datasets import make_motif_concept
from skexplain.explainers import NetworkDissection
from skexplain.models import ExpActivationCNN
from tests.planted_motifs import ARCHITECTURE, LENGTH, MOTIFS, trained_classifier

MOTIF = "GATAAG"


@pytest.fixture(autouse=True)
def _one_thread():
    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n_threads)


def _detector(padding="valid"):
    """A conv channel that is 1 exactly on GATAAG and 0 elsewhere, and a dense channel."""
    conv = nn.Conv1d(4, 2, len(MOTIF), padding=padding)
    with torch.no_grad():
        conv.weight[0] = torch.eye(4)[["ACGT".index(c) for c in MOTIF]].T
        generator = torch.Generator().manual_seed(0)
        conv.weight[1] = 0.1 * torch.randn(4, len(MOTIF), generator=generator)
        conv.bias.copy_(torch.tensor([1.0 - len(MOTIF), 0.0]))
    return conv


def _data(n=300, length=80):
    """Sequences with GATAAG inserted; the mask holds every occurrence, chance ones too."""
    X, _, _ = make_motif_concept(MOTIF, n, length, reverse_complement=False, random_state=0)
    letters = np.array(list("ACGT"))[X.argmax(axis=1)]
    mask = np.zeros((n, length), dtype=bool)
    for i, sequence in enumerate(letters):
        text = "".join(sequence)
        for start in range(length - len(MOTIF) + 1):
            if text.startswith(MOTIF, start):
                mask[i, start:start + len(MOTIF)] = True
    return X, {"motif": mask, "shifted": np.roll(mask, 3, axis=1)}


def test_channel_equal_to_the_concept_has_iou_one():
    net = nn.Sequential(_detector(), nn.ReLU())
    X, concepts = _data()
    E = NetworkDissection(net, layers="1").fit(X).explain(X, concepts=concepts)
    assert E.values[0, 0] == pytest.approx(1.0)
    assert E.values[0, 1] == pytest.approx(3 / 9, abs=0.01)  # the mask shifted by 3 of 6
    assert E.info["best_concept"][0] == "motif" and E.info["detector"][0]
    assert list(E.labels["concept"]) == ["motif", "shifted"]
    assert E.axes == E.info["axes"] == ("channel", "concept")
    assert list(E.info["channel_names"]) == list(E.labels["channel"]) == ["1:0", "1:1"]


def test_target_picks_channels_and_the_former_call_still_works():
    net = nn.Sequential(_detector(), nn.ReLU())
    X, concepts = _data()
    dissection = NetworkDissection(net, layers="1").fit(X)
    E = dissection.explain(X, concepts=concepts)
    one = dissection.explain(X, target="1:1", concepts=concepts)
    assert list(one.labels["channel"]) == ["1:1"]
    np.testing.assert_array_equal(one.values, E.values[[1]])
    np.testing.assert_array_equal(one.info["firing_rate"], E.info["firing_rate"][[1]])
    np.testing.assert_array_equal(dissection.explain(X, [1, 0], concepts=concepts).values,
                                  E.values[[1, 0]])
    with pytest.warns(FutureWarning, match="concepts=concepts"):
        former = dissection.explain(X, concepts)
    np.testing.assert_array_equal(former.values, E.values)
    with pytest.raises(ValueError, match="out of range"):
        dissection.explain(X, 2, concepts=concepts)
    with pytest.raises(ValueError, match="Unknown target"):
        dissection.explain(X, "2:0", concepts=concepts)
    with pytest.raises(ValueError, match="needs the dataset X"):
        dissection.explain(concepts=concepts)
    small = NetworkDissection(net, layers="1", batch_size=7).fit(X)
    np.testing.assert_array_equal(small.thresholds_, dissection.thresholds_)
    np.testing.assert_array_equal(small.explain(X, concepts=concepts).values, E.values)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
def test_same_padding_and_pooling_map_positions_to_their_receptive_field():
    net = nn.Sequential(_detector(padding="same"), nn.ReLU(), nn.MaxPool1d(2))
    X, concepts = _data()
    dissection = NetworkDissection(net, layers=["1", "2"]).fit(X)
    assert dissection.receptive_fields_ == {"1": (-2, 1, 6), "2": (-2, 2, 7)}
    E = dissection.explain(X, concepts=concepts)
    assert E.values[0, 0] == pytest.approx(1.0)
    # After pooling a firing covers the motif and one more position (none at the sequence end).
    assert 6 / 7 <= E.values[2, 0] < 0.9


def test_threshold_is_the_top_quantile_of_each_channel():
    net = trained_classifier()
    X, _, _ = make_motif_concept(MOTIFS[0], 300, LENGTH, random_state=0)
    dissection = NetworkDissection(net, layers="blocks.0.activation", quantile=0.99).fit(X)
    E = dissection.explain(X, concepts={"any": np.ones((300, LENGTH), dtype=bool)})
    np.testing.assert_allclose(E.info["firing_rate"], 0.01, atol=2e-4)
    assert dissection.receptive_fields_ == {"blocks.0.activation": (-5, 1, 11)}


def _planted_dataset():
    """Random DNA with one planted motif (forward, as in training) per sequence, or none."""
    parts, masks = [], {motif: [] for motif in MOTIFS}
    for k, motif in enumerate(MOTIFS):
        X_concept, X_random, mask = make_motif_concept(motif, 150, LENGTH,
                                                       reverse_complement=False, random_state=k)
        parts.append(X_concept)
        for other in MOTIFS:
            masks[other].append(mask if other == motif else np.zeros_like(mask))
    parts.append(X_random)
    for motif in MOTIFS:
        masks[motif].append(np.zeros_like(mask))
    return np.concatenate(parts), {motif: np.concatenate(m) for motif, m in masks.items()}


def test_planted_motif_channels_are_labelled_with_their_motif():
    net = trained_classifier()
    X, masks = _planted_dataset()
    concepts = {**masks, **{f"rolled {m}": np.roll(v, 150, axis=0) for m, v in masks.items()}}
    dissection = NetworkDissection(net, layers="blocks.0.activation").fit(X)
    E = dissection.explain(X, concepts=concepts)
    # Ground truth from the channels' responses: the motif that raises a channel's maximum most.
    peak = net.first_layer_activations(X).max(axis=2)
    response = np.stack([peak[k * 150:(k + 1) * 150].mean(axis=0) for k in range(4)])
    preferred = np.asarray(MOTIFS)[(response[:3] - response[3]).argmax(axis=0)]
    detectors = E.info["detector"]
    assert set(E.info["best_concept"][detectors]) == set(MOTIFS)  # no rolled mask wins
    np.testing.assert_array_equal(E.info["best_concept"][detectors], preferred[detectors])
    assert E.info["best_iou"][detectors].max() > 0.3


def test_random_weights_give_no_strong_detector():
    X, masks = _planted_dataset()
    trained = NetworkDissection(trained_classifier(), layers="blocks.0.activation")
    torch.manual_seed(0)
    random_net = ExpActivationCNN(n_outputs=3, input_length=LENGTH, architecture=ARCHITECTURE,
                                  dense_units=32).eval()
    untrained = NetworkDissection(random_net, layers="blocks.0.activation")
    trained_iou = trained.fit(X).explain(X, concepts=masks).info["best_iou"]
    random_iou = untrained.fit(X).explain(X, concepts=masks).info["best_iou"]
    assert (trained_iou > 0.2).sum() >= 3 and (random_iou > 0.2).sum() == 0


def test_bad_input_raises():
    net = nn.Sequential(_detector(), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 75, 1))
    X, concepts = _data()
    dissection = NetworkDissection(net, layers="1")
    with pytest.raises(NotFittedError):
        dissection.explain(X, concepts=concepts)
    dissection.fit(X)
    with pytest.raises(ValueError, match="expected"):
        dissection.explain(X, concepts={"motif": concepts["motif"][:10]})
    with pytest.raises(ValueError, match="non-empty dict"):
        dissection.explain(X, concepts={})
    with pytest.raises(ValueError, match="non-empty dict"):
        dissection.explain(X)
    with pytest.raises(ValueError, match="fitted on"):
        dissection.explain(X[:, :, :50], concepts=concepts)
    with pytest.raises(ValueError, match="n_positions"):
        NetworkDissection(net, layers="3").fit(X)
    adaptive = nn.Sequential(_detector(), nn.AdaptiveMaxPool1d(5))
    with pytest.raises(ValueError, match="Cannot map"):
        NetworkDissection(adaptive, layers="1").fit(X)
    with pytest.raises(ValueError, match="shape"):
        NetworkDissection(net, layers="1").fit(X[0])
    assert not hasattr(dissection, "score")  # model-level values are not attributions
    broken = _detector()
    with torch.no_grad():
        broken.bias[1] = float("nan")
    with pytest.raises(ValueError, match="NaN or infinite activations"):
        NetworkDissection(nn.Sequential(broken, nn.ReLU()), layers="0").fit(X)


@pytest.mark.parametrize("check", [check_no_attributes_set_in_init, check_get_params_invariance,
                                   check_set_params])
def test_sklearn_checks(check):
    dissection = NetworkDissection(nn.Sequential(_detector(), nn.ReLU()), layers="1")
    check("NetworkDissection", dissection)
    assert clone(dissection).model is dissection.model
