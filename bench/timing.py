"The one timing helper the benchmarks share."
import time

import numpy as np


def timings_ms(fn, runs:int=50, warmup:int=5) -> np.ndarray:
    "Milliseconds of each of `runs` calls of `fn()`, after `warmup` calls that are not timed."
    for _ in range(warmup): fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter(); fn(); times.append(time.perf_counter() - t0)
    return 1000 * np.array(times)


def median_ms(fn, runs:int=50, warmup:int=5) -> float:
    "Median milliseconds of `fn()` over `runs` calls, after `warmup` calls that are not timed."
    return float(np.median(timings_ms(fn, runs, warmup)))
