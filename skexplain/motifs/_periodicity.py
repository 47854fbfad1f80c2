"""Periodicity of an effect curve: the Fourier spectrum of its first difference."""

from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state

FLAT = 1e-12  # relative size of steps below which a curve counts as without variation
MIN_FFT = 4096  # zero-padding: frequency points dense enough to place a peak to ~0.03 nt
TREND_SCALE = 4  # the trend is the curve smoothed by a Gaussian of sd max_period / 4


@dataclass
class Periodicity:
    """Dominant period of a curve and how far it stands above the background.

    Attributes
    ----------
    period : float
        Period (in curve steps, e.g. nucleotides) of the spectral peak of the first
        difference where it most exceeds its background; NaN for a curve without
        variation.
    strength : float
        The largest ratio of power to background power in the band (1 means no excess);
        0 for a curve without variation.
    p_value : float
        Fraction of background curves whose largest power excess in the band reaches the
        curve's (with the usual +1 correction).
    significant : bool
        Whether ``p_value`` is at most ``alpha``.
    periods : ndarray of shape (n_frequencies,)
        Periods of the band, longest first.
    power : ndarray of shape (n_frequencies,)
        Power spectrum of the curve's first difference at those periods.
    background : ndarray of shape (n_frequencies,)
        Mean power spectrum of the background curves (trend plus permuted residuals).
    """

    period: float
    strength: float
    p_value: float
    significant: bool
    periods: np.ndarray
    power: np.ndarray
    background: np.ndarray

    def plot(self, ax=None, **kwargs):
        """Power spectrum and background against period, the dominant period marked.

        Returns
        -------
        ax : matplotlib.axes.Axes
        """
        import matplotlib.pyplot as plt

        ax = plt.gca() if ax is None else ax
        ax.plot(self.periods, self.power, label="first difference", **kwargs)
        ax.plot(self.periods, self.background, color="0.5", ls=":", label="background")
        if np.isfinite(self.period):
            ax.axvline(self.period, color="C3", ls="--", lw=1,
                       label=f"period {self.period:.1f} (p = {self.p_value:.3f})")
        ax.legend()
        ax.set_xlabel("period")
        ax.set_ylabel("power")
        return ax


def periodicity(curve, *, min_period=2.0, max_period=None, n_permutations=999, alpha=0.05,
                random_state=None):
    """Dominant period of a curve from the power spectrum of its first difference.

    Puffin (Dudnyk et al. 2024) reads the ~10.5 bp helical periodicity of DNA off the Fourier
    transform of the first difference of motif effect curves. Here the first difference is
    linearly detrended, Hann-windowed and zero-padded, and its power spectrum is compared,
    period by period in ``[min_period, max_period]``, with a background: the mean spectrum
    of ``n_permutations`` curves made of the curve's smooth trend (a Gaussian smoothing of
    standard deviation ``max_period / 4``) plus a random permutation of its residuals. The
    dominant period is where the power most exceeds the background (the ratio is the
    strength), and the p-value is the fraction of background curves whose largest ratio in
    the band reaches it: a test, over the whole band at once, of "smooth trend plus
    exchangeable noise"; the period is then read off the power's own peak next to that
    excess. Any feature narrower than ``max_period`` (a single bump, say)
    also departs from that background, so set the band to the periods of interest, e.g.
    ``(5, 25)`` for the helical period.

    Parameters
    ----------
    curve : array-like of shape (n,)
        Values at evenly spaced positions (e.g. :attr:`EffectCurve.effects`), n >= 8.
    min_period : float, default=2.0
        Shortest period searched (2 is the Nyquist limit).
    max_period : float, default=None
        Longest period searched; None means a third of the curve's length (at least three
        cycles in the curve).
    n_permutations : int, default=999
        Number of background curves.
    alpha : float, default=0.05
        Significance level.
    random_state : int, RandomState instance or None, default=None
        Seeds the permutations.

    Returns
    -------
    result : Periodicity

    Raises
    ------
    ValueError
        If the curve is shorter than 8 or not finite, or the band holds no frequency.

    References
    ----------
    Dudnyk, K., Cai, D., Shi, C., Xu, J. & Zhou, J. "Sequence basis of transcription
    initiation in the human genome." Science 384, eadj0116 (2024).

    Examples
    --------
    >>> import numpy as np
    >>> from skexplain.motifs import periodicity
    >>> d = np.arange(150)
    >>> result = periodicity(np.cos(2 * np.pi * d / 10.5) * np.exp(-d / 100), random_state=0)
    >>> round(result.period, 1), bool(result.significant)
    (10.5, True)
    """
    curve = np.asarray(curve, dtype=np.float64)
    if curve.ndim != 1 or len(curve) < 8 or not np.all(np.isfinite(curve)):
        raise ValueError(
            f"curve must be a finite 1-D array of at least 8 values, got shape {curve.shape}."
        )
    _check_number(min_period, "min_period", 2.0, Real)
    _check_number(n_permutations, "n_permutations", 1, Integral)
    n_steps = len(curve) - 1
    if max_period is None:
        max_period = n_steps / 3
    _check_number(max_period, "max_period", min_period, Real)
    n_fft = max(MIN_FFT, 8 * n_steps)
    frequencies = np.fft.rfftfreq(n_fft)
    band = (frequencies >= 1 / max_period) & (frequencies <= 1 / min_period)
    if not band.any():
        raise ValueError(f"No frequency has a period in [{min_period}, {max_period}].")
    periods = 1 / frequencies[band]
    power = _difference_power(curve, n_fft)[band]
    steps = np.diff(curve)
    if np.abs(steps - steps.mean()).max() <= FLAT * max(1.0, np.abs(curve).max()):
        return Periodicity(np.nan, 0.0, 1.0, False, periods, power, np.zeros_like(power))

    from scipy.ndimage import gaussian_filter1d

    trend = gaussian_filter1d(curve, max_period / TREND_SCALE, mode="nearest")
    residuals = curve - trend
    rng = check_random_state(random_state)
    null = np.stack([_difference_power(trend + rng.permutation(residuals), n_fft)[band]
                     for _ in range(n_permutations)])
    background = null.mean(axis=0)
    floor = np.finfo(np.float64).tiny
    ratio = power / np.maximum(background, floor)
    excess = int(np.argmax(ratio))
    null_max = (null / np.maximum(background, floor)).max(axis=1)
    p_value = (1 + np.sum(null_max >= ratio[excess])) / (1 + n_permutations)
    # The background rises with frequency (a difference amplifies fast changes), which
    # pulls the ratio's maximum to longer periods: the period is the power's own maximum
    # within one main-lobe half-width (1 / n_steps cycles per step) of the largest excess.
    near = np.abs(frequencies[band] - frequencies[band][excess]) <= 1 / n_steps
    peak = np.flatnonzero(near)[np.argmax(power[near])]
    return Periodicity(float(periods[peak]), float(ratio[excess]), float(p_value),
                       bool(p_value <= alpha), periods, power, background)


def _difference_power(curve, n_fft):
    """Power spectrum of the linearly detrended, Hann-windowed first difference."""
    steps = np.diff(curve)
    positions = np.arange(len(steps))
    steps = steps - np.polyval(np.polyfit(positions, steps, 1), positions)
    return np.abs(np.fft.rfft(steps * np.hanning(len(steps)), n=n_fft)) ** 2


def _check_number(value, name, minimum, kind):
    if not isinstance(value, kind) or isinstance(value, bool) or not value >= minimum:
        raise ValueError(f"{name} must be a number >= {minimum}, got {value!r}.")
