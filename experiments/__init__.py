"""The runs: one CLI module per study (``python -m experiments.<name>``)."""
