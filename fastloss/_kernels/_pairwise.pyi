# Type stub of the compiled fastloss._kernels._pairwise (private kernels; no validation).
import numpy as np
from numpy.typing import NDArray

def triplet(anchor: NDArray[np.floating], positive: NDArray[np.floating],
            negative: NDArray[np.floating], w: NDArray[np.float64] | None,
            row_out: NDArray[np.floating] | None, g_anchor: NDArray[np.floating] | None,
            g_positive: NDArray[np.floating] | None, g_negative: NDArray[np.floating] | None,
            scale: float, margin: float, p: float, swap: bool, eps: float, cosine: bool,
            n_threads: int) -> tuple[float, float]: ...

def contrastive(x1: NDArray[np.floating], x2: NDArray[np.floating], same: NDArray[np.float64],
                w: NDArray[np.float64] | None, row_out: NDArray[np.floating] | None,
                g1: NDArray[np.floating] | None, g2: NDArray[np.floating] | None,
                scale: float, margin: float, n_threads: int) -> tuple[float, float]: ...
