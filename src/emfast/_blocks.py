"""The one block planner of every parallel kernel (data layer).

Kernels parallelise over *blocks* of consecutive rows or sequences. Each block
sums its rows, in order, into its own slab of counts and the slabs are added
in block order, so the result is bit-identical for any number of threads — as
long as the blocks are chosen from the data alone, never from the thread count.
This module is where they are chosen (docs/kernels.md):

* at most :data:`MAX_BLOCKS` blocks, each of at least ``min_size`` units of
  work (rows, or time steps for sequences);
* the slabs together stay under :data:`MAX_SLAB_BYTES` (blocks are halved until
  they fit, keeping at least :data:`MIN_BLOCKS_UNDER_CAP` where there are that
  many);
* rows (units of equal size) are cut into runs of ``ceil(n / B)``; sequences
  (ragged sizes) into runs of whole sequences with about equal total size.
"""
from __future__ import annotations

import numpy as np

__all__ = ["plan_blocks", "MAX_BLOCKS", "MAX_SLAB_BYTES"]

MAX_BLOCKS = 64
MAX_SLAB_BYTES = 64 << 20
MIN_BLOCKS_UNDER_CAP = 8


def plan_blocks(n: int | None = None, *, offsets=None, min_size: int = 1,
                slab_nbytes: int = 0, max_blocks: int = MAX_BLOCKS,
                multiple: int = 1) -> np.ndarray:
    """Cut ``n`` equal rows, or the sequences of ``offsets``, into blocks.

    Parameters
    ----------
    n : int, optional
        Number of rows (units of equal size). Give either ``n`` or ``offsets``.
    offsets : array of int64 (S + 1,), optional
        Sequence boundaries: unit ``s`` (a sequence) has ``offsets[s + 1] -
        offsets[s]`` steps. Blocks are runs of whole sequences.
    min_size : int, default=1
        Smallest worthwhile block (rows or steps).
    slab_nbytes : int, default=0
        Bytes of one block's slab of counts (0: no cap).
    max_blocks : int, default=MAX_BLOCKS
    multiple : int, default=1
        With ``offsets``: every block but the last starts at a multiple of
        ``multiple`` sequences (at most ``ceil(S / multiple)`` blocks). The HMM
        lanes kernel runs ``multiple`` = L sequences side by side, so blocks of
        whole groups of L leave no part-filled group at each block's end (1,250
        sequences of equal length in 64 blocks of 19-20 had made 128 groups
        where 79 suffice: 1.7x the work).

    Returns
    -------
    block_ptr : ndarray (B + 1,) int64
        Block ``b`` holds units ``block_ptr[b] .. block_ptr[b + 1] - 1``;
        ``B >= 1`` unless there are no units (then ``[0]``... with ``B = 1``,
        ``[0, 0]``).
    """
    if offsets is None:
        units = int(n)
        total = units
    else:
        offsets = np.asarray(offsets, dtype=np.int64)
        units = len(offsets) - 1
        total = int(offsets[-1] - offsets[0]) if units > 0 else 0
    if units <= 0:
        return np.zeros(2, dtype=np.int64)
    B = -(-total // max(int(min_size), 1))
    B = max(1, min(int(max_blocks), B, units))
    if slab_nbytes > 0:
        while B > MIN_BLOCKS_UNDER_CAP and B * slab_nbytes > MAX_SLAB_BYTES:
            B //= 2
    if offsets is None:
        bsize = -(-units // B)
        ptr = np.append(np.arange(0, units, bsize, dtype=np.int64), units)
    else:
        # block b starts at the first allowed sequence starting at or after b * total / B
        m = max(int(multiple), 1)
        starts = np.arange(0, units, m)                  # the allowed first sequences
        B = min(B, len(starts))
        pos = np.searchsorted(offsets[starts] - offsets[0], (np.arange(B) * total) // B,
                              side="left")
        cuts = starts[np.minimum(pos, len(starts) - 1)]
        ptr = np.unique(np.concatenate([cuts, [units]]))
        ptr[0] = 0
    return np.ascontiguousarray(ptr, dtype=np.int64)
