# Type stub of the compiled fastloss._kernels._penalties (private kernels; no validation).
import numpy as np
from numpy.typing import NDArray

def sums(w: NDArray[np.floating], g: NDArray[np.floating] | None, c1: float, c2: float,
         n_threads: int) -> tuple[float, float]: ...

def grad(w: NDArray[np.floating], g: NDArray[np.floating], c1: float, c2: float,
         n_threads: int) -> None: ...
