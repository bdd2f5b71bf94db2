"""Aggregated QR codes (聚合码): one code a store prints, which every wallet can pay."""
