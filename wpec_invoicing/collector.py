"""The garbage collector's settings for our own processes (`wpec`, its worker processes).

Why: a big sync allocates millions of short-lived objects (parsed messages, ORM rows,
statements' parameters). With the interpreter's defaults (a young collection every 700
allocations, a full one after ten middle ones) the collector cost the classifying process
3-4 s of a 20,000-message first sync, 2 s of it in full collections walking everything the
program keeps: the modules, the ORM's mappings, the compiled statements' cache. So, in our
own processes only (an application embedding the library keeps its own settings): what
exists once the program has started is frozen out of the collector's sight, and the young
generation is collected every BATCH_THRESHOLD allocations. Nothing else changes: cycles are
still collected (a young collection holds at most that many new objects), and what is not a
cycle is freed at once by reference counting, as always.
"""

from __future__ import annotations

import gc

# Allocations between young collections (the default is 700), and how many young (then
# middle) collections before an older one: 0.3 s of collection left in that sync.
BATCH_THRESHOLD = (50_000, 20, 20)


def tune_for_batch() -> None:
    """Freeze what the program holds so far and collect less often (see above). No
    collection first: it would cost a short command more than it saves (freezing is
    instant; the little garbage start-up leaves is simply kept)."""
    gc.freeze()
    gc.set_threshold(*BATCH_THRESHOLD)
