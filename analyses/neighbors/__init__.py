"""gan-viz neighbors: memorisation (the paper's Figs. 2-3), nearest training images of samples.

Nearest training images of generated samples in pixel and D-feature space, the memorisation
score against held-out real images, and the data-copying test C_T (Meehan et al. 2020).

Public API: :func:`compute_neighbors` (embeddings and images in, :class:`NeighborsResult` out),
the search (:func:`nearest`, :func:`pixel_embedding`, :func:`unit_rows`), the data-copying test
(:func:`data_copying`, :func:`mann_whitney_z`, :func:`kmeans`), the streamed training images
(:class:`TrainStream`, :func:`rendered_rooms`, :func:`chunks_of`), :func:`plot_neighbors`,
:func:`plot_distances`, :func:`summary_of`, :func:`arrays_of`, :func:`cannot_tell`,
:func:`caption`, :func:`note_lines`, :func:`line`; the registered runner and its :class:`Options` are in ``run.py``.
"""

from .compute import CELLS, CHUNK, QUANTILE, NeighborsResult, SpaceResult, TrainStream, compute_neighbors
from .copying import MIN_CELL, CopyingResult, data_copying, kmeans, mann_whitney_z
from .plot import plot_distances, plot_neighbors
from .search import TopK, nearest, pixel_embedding, sq_dist, unit_rows
from .stream import chunks_of, read_rows, rendered_rooms
from .summary import (MIN_HELDOUT, MIN_SAMPLES, arrays_of, cannot_tell, caption, line, min_heldout, note_lines,
                      small_data, summary_of)

__all__ = ["CELLS", "CHUNK", "QUANTILE", "NeighborsResult", "SpaceResult", "TrainStream", "compute_neighbors",
           "MIN_CELL", "CopyingResult", "data_copying", "kmeans", "mann_whitney_z", "plot_distances",
           "plot_neighbors", "TopK", "nearest", "pixel_embedding", "sq_dist", "unit_rows", "chunks_of",
           "read_rows", "rendered_rooms", "MIN_HELDOUT", "MIN_SAMPLES", "arrays_of", "cannot_tell", "caption", "line", "min_heldout",
           "note_lines", "small_data", "summary_of"]
