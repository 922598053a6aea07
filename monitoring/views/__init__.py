"""Shifter pages, one module per page family."""
