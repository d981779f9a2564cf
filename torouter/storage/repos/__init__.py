"""Repositories: small keyword-only async functions over `tables`, one module per resource.

Each takes an open `AsyncConnection` (the caller owns the transaction: `async with
db.begin() as conn`) and returns ids or `RowMapping`s. Money is integer nano-USD.
"""
