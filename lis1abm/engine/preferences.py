"""One replication's preferences on both sides of the market, as the offer cascade sees them.

A central match must allocate "the same preferences and ranked lists" as the cascade, so this
module builds them from exactly the cascade's inputs:

* the hospitals' side: each ad's ranking key of every application on its ranked list, from
  :func:`lis1abm.engine.kernel._segment_keys` itself (the same interview noise, keyed by
  (seed, replication, applicant, trust), packed with the application index so that keys never
  tie); an application not on the list (the applicant is not qualified) has
  :data:`NOT_LISTED`;
* the applicants' side: the ads each applied to, in their preference order (``app_pref``,
  fixed per market);
* who has withdrawn before the first round (:func:`lis1abm.rules.has_withdrawn`, the draw
  :func:`lis1abm.engine.kernel.replicate` makes with the same coordinates). A withdrawn
  applicant has taken another job: they are in no allocation, the cascade's or a central
  match's, and in no blocking pair.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from lis1abm import rules
from lis1abm.engine.kernel import _segment_keys
from lis1abm.engine.layout import INT64_MIN, EngineArrays
from lis1abm.rng import withdrawal_u16_jit

NOT_LISTED = INT64_MIN
"""The key of an application that is not on the ad's ranked list (below every real key)."""


def preference_lists(arrays: EngineArrays) -> tuple[np.ndarray, np.ndarray]:
    """Each applicant's applications in preference order (host side, once per market).

    Returns
    -------
    app_ptr : int64 (N + 1,): applicant i's applications are ``app_ptr[i]:app_ptr[i + 1]``
        (applications are stored by applicant).
    by_preference : int64 (A,): within ``app_ptr[i]:app_ptr[i + 1]``, applicant i's
        application indices, favourite first.
    """
    app_ptr = np.zeros(arrays.n_applicants + 1, dtype=np.int64)
    np.cumsum(arrays.n_applied, out=app_ptr[1:])
    order = np.lexsort((arrays.app_pref, arrays.app_applicant)).astype(np.int64)
    if not np.array_equal(
        arrays.app_applicant[order], np.repeat(np.arange(arrays.n_applicants), arrays.n_applied)
    ):
        raise ValueError("applications must be stored by applicant")
    return app_ptr, np.ascontiguousarray(order)


@njit(inline="always")
def application_keys(k0, k1, rep, m, keys, app_key):
    """Every application's ranking key in replication ``rep``.

    ``keys`` (Q,): out, the keys in ranked-list order (``m.ad_app``: by ad, as the cascade
    computes them); ``app_key`` (A,): out, the key of each application, :data:`NOT_LISTED` for
    one not on its ad's list."""
    _segment_keys((k0, k1), rep, m, 0, m.ad_app.shape[0], keys)
    for a in range(app_key.shape[0]):
        app_key[a] = NOT_LISTED
    for q in range(keys.shape[0]):
        app_key[m.ad_app[q]] = keys[q]


@njit(inline="always")
def withdrawals(k0, k1, rep, withdraw_q16, withdrawn):
    """Who has taken another job and withdrawn before the first round, bool-as-int64 (N,)
    into ``withdrawn``: the cascade's draw (:func:`lis1abm.engine.kernel.replicate`)."""
    for i in range(withdrawn.shape[0]):
        withdrawn[i] = rules.has_withdrawn(withdrawal_u16_jit(k0, k1, rep, i), withdraw_q16)
