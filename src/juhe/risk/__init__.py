"""Fraud risk: features, rules, a trained model and the decision per payment (allow, step up, block)."""
