"""The living demo: a retailer's business as plain data (business), played through the payments core with a moved clock (backfill, daily) or through the public API as it happens (stream)."""
