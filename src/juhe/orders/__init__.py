"""B2B sales orders whose three flows — the order, its invoice, its payment — are linked to one
another in the Merkle log and reconciled from the log's records alone (三流一致)."""
