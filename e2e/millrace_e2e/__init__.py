"""Plumbing of Millrace's e2e tier: a kind cluster, kubectl, namespaces and waits."""
