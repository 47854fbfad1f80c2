"""TCAV against closed forms (hand-built motif detectors, a linear head) and a trained model."""

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_set_params,
)
from torch import nn

from skexplain.datasets import make_motif_concept
from skexplain.explainers import TCAV
from tests.planted_motifs import LENGTH, MOTIFS, trained_classifier


@pytest.fixture(autouse=True)
def _one_thread():
    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n_threads)


PLANTED, OTHER = "CACGTGAC", "TTATCTAA"
SHUFFLED = "CAACCGGT"  # the letters of PLANTED; >= 2 mismatches wherever 2+ of them overlap it


class MotifDetectors(nn.Module):
    """Logit k = max over positions of ReLU(matches with motif k - (width - 2)): 2 on the
    motif, 1 with one mismatch, 0 otherwise; the logits are linear in the pooled layer."""

    def __init__(self, motifs):
        super().__init__()
        width = len(motifs[0])
        self.scan = nn.Conv1d(4, len(motifs), width)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveMaxPool1d(1)
        self.flatten = nn.Flatten()
        self.head = nn.Linear(len(motifs), len(motifs))
        with torch.no_grad():
            for k, motif in enumerate(motifs):
                self.scan.weight[k] = torch.eye(4)[["ACGT".index(c) for c in motif]].T
            self.scan.bias.fill_(2.0 - width)
            self.head.weight.copy_(torch.eye(len(motifs)))
            self.head.bias.zero_()

    def forward(self, x):
        return self.head(self.flatten(self.pool(self.relu(self.scan(x)))))


def _concepts(length=60, n=60):
    planted, backgrounds, _ = make_motif_concept(PLANTED, n, length, reverse_complement=False,
                                                 random_state=0)
    shuffled, _, _ = make_motif_concept(SHUFFLED, n, length, reverse_complement=False,
                                        random_state=1)
    pool = make_motif_concept("A", 4 * n, length, random_state=2)[1]
    return {"planted": planted, "shuffled": shuffled}, pool, backgrounds


def _detector_tcav(**params):
    concepts, pool, _ = _concepts()
    model = MotifDetectors([PLANTED, OTHER]).eval()
    params = {"n_runs": 20, **params}
    return TCAV(model, layer="flatten", concepts=concepts, random_concepts=pool,
                random_state=0, **params).fit()


def test_planted_motif_is_significant_for_its_class_and_a_shuffled_motif_is_not():
    tcav = _detector_tcav()
    _, _, backgrounds = _concepts()
    E = tcav.explain(backgrounds, target=0)
    assert list(E.labels["concept"]) == ["planted", "shuffled"]
    assert E.axes == E.info["axes"] == ("class", "concept") and E.info["n_tests"] == 2
    assert E.labels["class"].tolist() == [0] and E.info["output"] == "logit"
    scores = dict(zip(E.labels["concept"], E.values[0], strict=True))
    assert scores["planted"] == 1.0  # every CAV points up the planted detector, and so does
    # the gradient of its logit
    assert E.info["significant"][0].tolist() == [True, False]
    assert E.info["p_value"][0, 1] > 0.05


def test_linear_head_gives_scores_of_zero_or_one():
    # With logits linear in the layer, S(x) = w . v is the same for every input.
    tcav = _detector_tcav()
    E = tcav.explain(_concepts()[1][:30])
    assert set(np.unique(E.info["scores"])) <= {0.0, 1.0}
    assert set(np.unique(E.info["random_scores"])) <= {0.0, 1.0}
    assert E.info["scores"].shape == (2, 2, 20) and E.values.shape == (2, 2)
    np.testing.assert_allclose(E.info["sd"], E.info["scores"].std(axis=2, ddof=1))


def test_cav_is_the_direction_that_separates_the_concept():
    # Concept examples x + 3u against x: the CAV is u (Kim et al.'s sanity check).
    rng = np.random.default_rng(0)
    u = rng.normal(size=10)
    u /= np.linalg.norm(u)
    model = nn.Sequential(nn.Identity(), nn.Linear(10, 2))
    concept = rng.normal(size=(100, 10)) + 3 * u
    tcav = TCAV(model, layer="0", concepts={"u": concept},
                random_concepts=rng.normal(size=(200, 10)), n_runs=5,
                classifier=LogisticRegression(), random_state=0).fit()
    directions = tcav.cavs_[0]
    np.testing.assert_allclose(np.linalg.norm(directions, axis=1), 1.0)
    assert (directions @ u).min() > 0.9


def test_planted_motif_concept_is_significant_for_its_class_in_a_trained_cnn():
    net = trained_classifier()
    concept, backgrounds, _ = make_motif_concept(MOTIFS[0], 100, LENGTH,
                                                 reverse_complement=False, random_state=0)
    tcav = TCAV(net, layer="blocks.0", concepts={MOTIFS[0]: concept},
                random_concepts=backgrounds, n_runs=10, random_state=0).fit()
    inputs = make_motif_concept(MOTIFS[0], 50, LENGTH, reverse_complement=False,
                                random_state=1)[0]
    E = tcav.explain(inputs, target=0)
    assert E.values[0, 0] > 0.9 and E.info["significant"][0, 0]
    assert E.labels["class"].tolist() == [0]


def test_results_do_not_depend_on_n_jobs():
    one = _detector_tcav(n_jobs=1)
    with joblib.parallel_config(backend="threading"):
        two = _detector_tcav(n_jobs=2)
    np.testing.assert_array_equal(one.cavs_, two.cavs_)
    np.testing.assert_array_equal(one.random_cavs_, two.random_cavs_)
    # run r's sets and seeds depend on random_state and r only
    fewer = _detector_tcav(n_runs=5)
    np.testing.assert_array_equal(one.cavs_[:, :5], fewer.cavs_)


def test_batch_size_does_not_change_the_scores():
    tcav = _detector_tcav()
    inputs = _concepts()[1][:30]
    auto = tcav.explain(inputs)
    small = tcav.set_params(batch_size=7).explain(inputs)
    np.testing.assert_array_equal(auto.values, small.values)
    np.testing.assert_array_equal(auto.info["random_scores"], small.info["random_scores"])


def test_bad_input_raises():
    concepts, pool, _ = _concepts(n=10)
    model = MotifDetectors([PLANTED, OTHER]).eval()
    with pytest.raises(TypeError, match="needs gradients"):
        TCAV(lambda X: X, concepts=concepts, random_concepts=pool).fit()
    with pytest.raises(ValueError, match="input shape"):
        TCAV(model, layer="flatten", concepts=concepts, random_concepts=pool[:, :, :30]).fit()
    with pytest.raises(ValueError, match="at least 4"):
        TCAV(model, layer="flatten", concepts=concepts, random_concepts=pool[:3]).fit()
    with pytest.raises(ValueError, match="No layer named"):
        TCAV(model, layer="nope", concepts=concepts, random_concepts=pool).fit()
    tcav = TCAV(model, layer="flatten", concepts=concepts, random_concepts=pool, n_runs=2)
    with pytest.raises(NotFittedError):
        tcav.explain(pool)
    tcav.fit()
    with pytest.raises(ValueError, match="out of range"):
        tcav.explain(pool, target=5)
    with pytest.raises(ValueError, match="input shape"):
        tcav.explain(pool[:, :, :30])
    with pytest.raises(ValueError, match="needs the inputs X"):
        tcav.explain()
    assert not hasattr(tcav, "score")  # model-level values are not attributions


def test_nan_activations_or_gradients_raise():
    concepts, pool, _ = _concepts(n=10)
    model = MotifDetectors([PLANTED, OTHER]).eval()
    tcav = TCAV(model, layer="flatten", concepts=concepts, random_concepts=pool, n_runs=2,
                random_state=0).fit()
    with torch.no_grad():
        tcav.network_.head.weight[0, 0] = float("nan")  # finite activations, NaN gradients
    with pytest.raises(ValueError, match="NaN or infinite gradients"):
        tcav.explain(pool[:5])
    with torch.no_grad():
        model.scan.bias[0] = float("inf")
    with pytest.raises(ValueError, match="NaN or infinite"):
        TCAV(model, layer="flatten", concepts=concepts, random_concepts=pool, n_runs=2).fit()


@pytest.mark.parametrize("check", [check_no_attributes_set_in_init, check_get_params_invariance,
                                   check_set_params])
def test_sklearn_checks(check):
    concepts, pool, _ = _concepts(n=10)
    tcav = TCAV(MotifDetectors([PLANTED, OTHER]), layer="flatten", concepts=concepts,
                random_concepts=pool)
    check("TCAV", tcav)
    assert clone(tcav).model is tcav.model


def test_missing_concepts_raise():
    model = MotifDetectors([PLANTED, OTHER])
    with pytest.raises(ValueError, match="non-empty dict"):
        TCAV(model, layer="flatten", random_concepts=_concepts(n=10)[1]).fit()
    with pytest.raises(ValueError, match="pool of random examples"):
        TCAV(model, layer="flatten", concepts=_concepts(n=10)[0]).fit()
