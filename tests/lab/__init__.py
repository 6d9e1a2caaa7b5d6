"""The end-to-end lab: the lab inventory's hosts as systemd-nspawn machines (entry point: tests/lab/labctl.py)."""
