"""The ads on a map of Norway, coloured by their open positions.

The ads' coordinates are the round file's ``lat``/``lon`` (an ad without them is left off).
The coastline is a coarse outline of mainland Norway, drawn only so that the towns can be
placed by eye; it is not a geographic data set.
"""

from __future__ import annotations

import numpy as np
import solara
from matplotlib.figure import Figure
from mesa.visualization.utils import update_counter

from lis1abm.viz.model import ViewModel

# A coarse outline of mainland Norway (lon, lat in degrees, clockwise from the Swedish border
# at Svinesund): town and cape coordinates from general knowledge, about 0.1 degree; the
# fjords, islands and Svalbard are left out.
NORWAY_OUTLINE = np.array(
    [
        (11.25, 59.10),  # Svinesund, the Swedish border
        (12.60, 60.90),
        (12.20, 62.00),
        (12.10, 63.50),
        (14.00, 64.50),
        (14.50, 65.90),
        (15.50, 66.70),
        (17.80, 68.00),
        (18.10, 68.45),
        (20.55, 69.06),  # the three-country cairn (Sweden, Finland)
        (22.40, 68.70),
        (25.50, 69.47),  # Karasjok
        (28.20, 70.10),  # the Tana river
        (29.00, 69.05),  # the Pasvik valley
        (30.80, 69.80),  # the Russian border at Grense Jakobselv
        (31.10, 70.37),  # Vardø
        (27.60, 71.10),  # Nordkinn
        (25.80, 71.17),  # Nordkapp
        (23.70, 70.66),  # Hammerfest
        (18.95, 69.90),  # off Tromsø
        (16.10, 69.30),  # Andenes
        (14.40, 67.28),  # Bodø
        (11.24, 64.86),  # Rørvik
        (9.70, 63.70),  # the mouth of the Trondheim fjord
        (7.70, 63.10),  # Kristiansund
        (6.15, 62.47),  # Ålesund
        (5.10, 62.20),  # Stad
        (5.00, 61.60),  # Florø
        (5.00, 60.40),  # off Bergen
        (5.25, 59.40),  # Haugesund
        (5.60, 58.97),  # Stavanger
        (5.95, 58.45),  # Egersund
        (7.05, 57.98),  # Lindesnes
        (8.00, 58.15),  # Kristiansand
        (8.77, 58.46),  # Arendal
        (10.00, 59.05),  # Larvik
        (10.75, 59.90),  # Oslo
        (10.65, 59.43),  # Moss
        (10.95, 59.20),  # Fredrikstad
        (11.25, 59.10),
    ]
)


def map_figure(model: ViewModel) -> Figure:
    """The ads at their hospitals' towns: a marker's area is the ad's positions, its colour
    its open positions now (0: every position filled)."""
    ads = model.market.data.ads
    placed = [j for j, a in enumerate(ads) if a.lat is not None and a.lon is not None]
    open_now = model.open_positions
    fig = Figure(figsize=(6.4, 4.0), layout="constrained")  # wide: fits a panel of the page
    ax = fig.subplots()
    ax.fill(*NORWAY_OUTLINE.T, facecolor="0.93", edgecolor="0.6", linewidth=0.8)
    # Largest first, so that a small ad in the same town (Oslo, Lørenskog) stays visible.
    placed.sort(key=lambda j: -model.market.capacity[j])
    points = ax.scatter(
        [ads[j].lon for j in placed],
        [ads[j].lat for j in placed],
        s=[12 + 6 * model.market.capacity[j] for j in placed],
        c=[open_now[j] for j in placed],
        cmap="viridis_r",
        vmin=0,
        vmax=max(1, int(model.market.capacity.max())),
        edgecolors="black",
        linewidths=0.5,
    )
    fig.colorbar(points, ax=ax, shrink=0.6, label="open positions")
    ax.set_xlim(4, 32)
    ax.set_ylim(57.5, 71.5)
    # Degrees of longitude are shorter than degrees of latitude this far north (cos 64°).
    ax.set_aspect(1 / np.cos(np.radians(64)))
    # No axis labels: the ticks are degrees east and north, and the panel has no room.
    ax.set_title(
        f"{int(open_now.sum())} of {model.hires_possible} positions open after round "
        f"{model.round_number}",
        fontsize=10,
    )
    return fig


@solara.component
def AdMap(model: ViewModel):
    """Mesa component: the map, redrawn after every step."""
    update_counter.get()  # Mesa's signal that the model stepped
    solara.FigureMatplotlib(map_figure(model), format="png", bbox_inches="tight")
