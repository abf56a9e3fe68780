"""Figures drawn from saved results: one theme (:mod:`lis1abm.plots.theme`), one module per
figure; every function returns a matplotlib Figure."""
