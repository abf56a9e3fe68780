"""A browser view of one replication's offer cascade (``lis1abm view``), built from Mesa's
own Solara components (:class:`mesa.visualization.SolaraViz`).

Needs the ``viz`` extra (``pip install "lis1abm[viz]"``: Mesa's visualisation dependencies,
Solara among them). The modules are named for what they show: :mod:`~lis1abm.viz.model` (the
model the page rebuilds from its sliders), :mod:`~lis1abm.viz.map` (the ads on a map of
Norway), :mod:`~lis1abm.viz.cascade` (the offers per round and the hires by group),
:mod:`~lis1abm.viz.ranked_list` (one ad's ranked list and each candidate's fate) and
:mod:`~lis1abm.viz.app` (the page and its server).
"""
