"""Provisioning from the operator's BSS: subscribers, top-ups and the HLR's network state."""
