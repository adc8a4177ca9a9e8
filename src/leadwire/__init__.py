"""Leadwire: lead-to-call platform."""
