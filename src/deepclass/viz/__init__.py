"""Every PNG deepclass draws (matplotlib, Agg backend: no display needed).

- ``plot_history``: loss/accuracy curves, one panel per metric group
  (``draw_history`` draws one panel on a given axes)
- ``plot_heatmap``: a value over a 2-D grid (validation accuracy over lr x reg)
- ``plot_image_grid``: images or learned weights/filters in a grid
- ``plot_confusion_matrix``
- ``draw_decision_regions`` / ``plot_decision_regions``: 2-D classifiers (XOR)

Every function writes its file atomically and returns the path.
"""

from deepclass.viz.figures import new_figure, save_figure
from deepclass.viz.plots import (
    draw_decision_regions,
    draw_history,
    plot_confusion_matrix,
    plot_decision_regions,
    plot_heatmap,
    plot_history,
    plot_image_grid,
)

__all__ = [
    "draw_decision_regions",
    "draw_history",
    "new_figure",
    "plot_confusion_matrix",
    "plot_decision_regions",
    "plot_heatmap",
    "plot_history",
    "plot_image_grid",
    "save_figure",
]
