"""Versioned rule tables of the compliance gate (CSV, see README.md)."""
