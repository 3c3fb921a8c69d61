"""Millrace operator: manages Millrace clusters on Kubernetes."""
