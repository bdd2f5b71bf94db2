"""Juhe: self-hosted payment and treasury platform."""
