"""Batch transfers (payroll, suppliers) through the corporate bank channel."""
