"""An on-demand mutation check of the permission rules, the delivery ledger and matching (not run by CI)."""
