"The one timing helper the benchmarks share."
import time

import numpy as np


def median_ms(fn, runs:int=50, warmup:int=5) -> float:
    "Median milliseconds of `fn()` over `runs` calls, after `warmup` calls that are not timed."
    for _ in range(warmup): fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter(); fn(); times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times))
