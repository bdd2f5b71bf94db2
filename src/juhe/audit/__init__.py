"""The audit trail: who changed what, when, from where, with what outcome; hash-chained."""
