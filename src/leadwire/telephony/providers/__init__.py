"""Telephony providers behind one protocol: Twilio, and the simulated carrier."""
