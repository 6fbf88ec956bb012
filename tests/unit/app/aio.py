"""Run a coroutine to completion from a sync test."""

import asyncio
from concurrent.futures import ThreadPoolExecutor


def run(coro):
    """`asyncio.run` on a thread of its own: it works also when an earlier test (a browser
    driver, a server fixture) left an event loop running in the test's thread."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()
