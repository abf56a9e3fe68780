"""Applications: which ads each applicant applies to, and how they rank them.

The model has two levels, so that the ads of one trust are correlated (an applicant drawn to a
trust often applies to several of its ads, which is what makes a trust's unique applicants
fewer than its applications):

1. **Trust interest.** Applicant *i* is interested in trust *t* with probability
   ``P_it = sigmoid(a_t + c_it)``, where ``c_it`` is the applicant's breadth (a propensity to
   apply widely, by education group plus an individual spread), a home-region bonus and, for
   Norway-educated applicants, bonuses for the university trusts of their study city and for
   the trusts of its region (staying near where they studied), and one for urban hospitals.
   Every applicant applies somewhere: a draw with no interest at all is redrawn (rejection
   sampling).
2. **Ads within a trust.** Given interest in *t*, the applicant applies to each of its ads
   independently with probability ``r_j``, redrawn if none: so ad *j* is chosen with
   probability ``q_j = applications_j / unique_applicants_t`` given interest.

**Fit.** The trust attractiveness ``a_t`` is solved (Newton's method, all trusts together) so
that the expected number of interested applicants equals the report's unique applicants per
trust, and ``r_j`` so that the conditional probabilities equal ``q_j``. Expected applications
per ad then equal appendix 2 and the total equals 10,948, to solver precision.

**Preferences.** An applicant ranks the ads they applied to by ``a_t + c_it - breadth +
log q_j + taste``, with a Gumbel taste shock per (applicant, ad). The rank (0 = favourite) is
what they use to compare offers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lis1abm.data.round import RoundData
from lis1abm.params import Params
from lis1abm.rng import Stream, gumbel, normal, uniform

MAX_ATTEMPTS = 10_000  # rejection sampling: an applicant with no draw after this many is a bug


@dataclass(frozen=True)
class Applications:
    """The applications of one market, in CSR form by applicant.

    Attributes
    ----------
    ptr : int64 (N + 1,): applicant i's applications are ``ptr[i]:ptr[i + 1]``.
    ad : int64 (A,): ad index of each application, ascending within an applicant.
    pref : int64 (A,): the applicant's preference rank of that ad, 0 = favourite.
    attractiveness : float64 (T,): fitted trust attractiveness ``a_t``, logits.
    ad_probability : float64 (J,): ``r_j``, the per-ad draw probability given trust interest.
    expected_unique : float64 (T,): expected unique applicants per trust under the fit.
    expected_applications : float64 (J,): expected applications per ad under the fit.
    """

    ptr: np.ndarray
    ad: np.ndarray
    pref: np.ndarray
    attractiveness: np.ndarray
    ad_probability: np.ndarray
    expected_unique: np.ndarray
    expected_applications: np.ndarray

    def per_ad(self, n_ads: int) -> np.ndarray:
        """Realised applications per ad, int64 (J,)."""
        return np.bincount(self.ad, minlength=n_ads)


def trust_index(data: RoundData) -> np.ndarray:
    """Trust index (order of ``data.trusts``) of each ad, int64 (J,)."""
    names = [t.name for t in data.trusts]
    return np.array([names.index(a.trust) for a in data.ads], dtype=np.int64)


@dataclass(frozen=True)
class StudyLinks:
    """How each applicant's study city links them to each trust (0 for applicants educated
    abroad, who have no study city in Norway).

    Attributes
    ----------
    university : float64 (N, T): 1 where the trust is a university trust of the study city.
    region : float64 (N, T): 1 where the trust lies in the study city's region (RHF).
    """

    university: np.ndarray
    region: np.ndarray


def study_city_links(data: RoundData, pop: pd.DataFrame) -> StudyLinks:
    """The applicant x trust study-city links (see :class:`StudyLinks`)."""
    names = [t.name for t in data.trusts]
    region_trust = np.array(
        [next(a.region for a in data.ads if a.trust == t.name) for t in data.trusts]
    )
    city = pop["study_city"].to_numpy()
    university = np.zeros((len(pop), len(names)))
    for f in data.faculties:
        cols = [names.index(t) for t in f.university_trusts]
        university[np.ix_(city == f.city, cols)] = 1.0
    region = (pop["study_region"].to_numpy()[:, None] == region_trust[None, :]).astype(float)
    return StudyLinks(university=university, region=region)


def _covariates(data: RoundData, params: Params, pop: pd.DataFrame, seed: int):
    """Breadth (N,), the trust-level offset c_it (N, T) and the ad-level taste base (N, J)."""
    pa = params.applications
    n = len(pop)
    tix = trust_index(data)
    n_trusts = len(data.trusts)
    positions = np.array([a.positions for a in data.ads], dtype=float)
    urban_ad = np.array([a.urban for a in data.ads], dtype=float)
    # A trust's urban share: positions in urban ads over its positions (Ahus: 25 of 40).
    urban_trust = np.bincount(tix, positions * urban_ad, n_trusts) / np.bincount(
        tix, positions, n_trusts
    )
    region_trust = np.array(
        [next(a.region for a in data.ads if a.trust == t.name) for t in data.trusts]
    )
    home = pop["home_region"].to_numpy()
    norway_edu = (pop["education_group"] == "Norway").to_numpy(dtype=float)
    study = study_city_links(data, pop)
    breadth = np.array(
        [pa.breadth_by_education[g] for g in pop["education_group"]]
    ) + pa.breadth_sd * normal(seed, 0, Stream.BREADTH, np.arange(n))
    home_trust = (home[:, None] == region_trust[None, :]).astype(float)
    # Study-city terms are per trust, so every ad of a university trust shares them.
    study_trust = pa.study_city_bonus * study.university + pa.study_region_bonus * study.region
    c = (
        breadth[:, None]
        + pa.home_region_bonus * home_trust
        + pa.urban_bonus_norway_educated * norway_edu[:, None] * urban_trust[None, :]
        + study_trust
    )
    home_ad = home_trust[:, tix]
    ad_base = (
        pa.home_region_bonus * home_ad
        + pa.urban_bonus_norway_educated * norway_edu[:, None] * urban_ad[None, :]
        + study_trust[:, tix]
    )
    return breadth, c, ad_base


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def fit_attractiveness(c: np.ndarray, target: np.ndarray, tol: float = 1e-9) -> np.ndarray:
    """Solve ``a`` (T,) so that ``sum_i P_it / (1 - Z_i) = target_t`` with
    ``P = sigmoid(a + c)`` and ``Z_i = prod_t (1 - P_it)``: the expected interested applicants
    per trust under rejection of empty draws. Jacobi-Newton iterations, ``Z`` refreshed each
    step. ``c`` is (N, T)."""
    n = c.shape[0]
    p0 = np.clip(target / n, 1e-6, 1 - 1e-6)
    a = np.log(p0 / (1 - p0)) - np.median(c, axis=0)
    for _ in range(500):
        p = _sigmoid(a + c)
        keep = 1.0 - np.prod(1.0 - p, axis=1)
        expected = (p / keep[:, None]).sum(axis=0)
        slope = (p * (1 - p) / keep[:, None]).sum(axis=0)
        step = (expected - target) / slope
        a -= np.clip(step, -2.0, 2.0)
        if np.max(np.abs(expected - target) / target) < tol:
            break
    else:
        raise RuntimeError("application fit did not converge")
    return a


def fit_ad_probability(q: np.ndarray) -> np.ndarray:
    """Per-ad draw probabilities ``r`` whose marginals, conditional on at least one ad, are
    ``q`` (the ads of one trust).

    ``r = q * s`` where ``s = 1 - prod(1 - r)`` is the chance of drawing at least one ad; ``s``
    is the positive root of ``f(s) = 1 - prod(1 - q s) - s``, found by bisection (f > 0 just
    above 0 when ``sum(q) > 1``, and f(1) <= 0). A trust with one ad has ``q = [1]``, r = 1.
    """
    if q.size == 1:
        return np.ones(1)
    if q.sum() <= 1.0 + 1e-6 or q.max() > 1.0:
        raise ValueError(
            f"ads' conditional probabilities {q} must each be <= 1 and sum to "
            "more than 1 (a trust's applications must exceed its unique applicants)"
        )
    lo, hi = 1e-12, 1.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if 1.0 - np.prod(1.0 - q * mid) - mid > 0:
            lo = mid
        else:
            hi = mid
    return q * lo


def draw_applications(
    data: RoundData, params: Params, pop: pd.DataFrame, seed: int
) -> Applications:
    """Fit the application model to the round and draw one set of applications.

    The draws are a function of (seed, applicant, trust or ad, attempt), replication 0.
    """
    n = len(pop)
    tix = trust_index(data)
    n_trusts, n_ads = len(data.trusts), len(data.ads)
    unique = np.array([t.unique_applicants for t in data.trusts], dtype=float)
    q = np.array([a.applications for a in data.ads], dtype=float) / unique[tix]
    breadth, c, ad_base = _covariates(data, params, pop, seed)
    a = fit_attractiveness(c, unique)
    r = np.empty(n_ads)
    for t in range(n_trusts):
        r[tix == t] = fit_ad_probability(q[tix == t])

    p = _sigmoid(a + c)
    keep = 1.0 - np.prod(1.0 - p, axis=1)
    expected_unique = (p / keep[:, None]).sum(axis=0)

    ids = np.arange(n)
    # 1. Trust interest, redrawing applicants with no interest at all.
    interest = np.zeros((n, n_trusts), dtype=bool)
    todo = ids
    for attempt in range(MAX_ATTEMPTS):
        if todo.size == 0:
            break
        cell = np.arange(n_trusts)[None, :] + n_trusts * attempt
        draw = uniform(seed, 0, Stream.APPLY_TRUST, todo[:, None], cell) < p[todo]
        interest[todo] = draw
        todo = todo[~draw.any(axis=1)]
    else:
        raise RuntimeError("rejection sampling of trust interest did not finish")

    # 2. Ads within each trust of interest, redrawing (applicant, trust) pairs with no ad.
    applied = np.zeros((n, n_ads), dtype=bool)
    for t in range(n_trusts):
        cols = np.flatnonzero(tix == t)
        todo = np.flatnonzero(interest[:, t])
        for attempt in range(MAX_ATTEMPTS):
            if todo.size == 0:
                break
            draw = (
                uniform(seed, 0, Stream.APPLY_AD, todo[:, None], cols[None, :] + n_ads * attempt)
                < r[cols]
            )
            applied[np.ix_(todo, cols)] = draw
            todo = todo[~draw.any(axis=1)]
        else:
            raise RuntimeError("rejection sampling of ads did not finish")

    # Preferences over the ads applied to (the breadth term is common to all of an
    # applicant's ads, so it does not change their order and is left out).
    utility = (
        a[tix][None, :]
        + ad_base
        + np.log(q)[None, :]
        + params.applications.taste_scale
        * gumbel(seed, 0, Stream.TASTE, ids[:, None], np.arange(n_ads)[None, :])
    )
    rows, cols = np.nonzero(applied)  # row-major: ads ascending within each applicant
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=ptr[1:])
    pref = np.empty(rows.size, dtype=np.int64)
    for i in range(n):
        lo, hi = ptr[i], ptr[i + 1]
        order = np.lexsort((cols[lo:hi], -utility[i, cols[lo:hi]]))
        pref[lo + order] = np.arange(hi - lo)
    return Applications(
        ptr=ptr,
        ad=cols.astype(np.int64),
        pref=pref,
        attractiveness=a,
        ad_probability=r,
        expected_unique=expected_unique,
        expected_applications=expected_unique[tix] * q,
    )
