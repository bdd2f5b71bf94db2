"""Proof of safety: checks that return figures (`juhe prove` prints them). security_* modules are the
security half: tenant isolation, the fuzzed API, card data at rest."""
