"""Airspace deconfliction service: fuse radar and ADS-B track streams, publish near-miss alerts."""
