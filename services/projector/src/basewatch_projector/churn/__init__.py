"""Churn: the sweep that moves silent installations to at_risk and churned, and the one
owner of when it runs."""
