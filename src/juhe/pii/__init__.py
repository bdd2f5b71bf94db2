"""Personal data at rest: envelope encryption (AES-256-GCM, a fresh data key per value, wrapped by a
versioned master key), blind indexes for lookups, and the ORM hooks that keep plaintext out of tables."""
