"""One reconcile pass per resource: observe, decide (pure planners), act, build status.

These functions hold no Kopf code (handlers/ call them) and take their I/O as arguments
(a Kubernetes client and a Kafka connector), so tests drive them with fakes.
"""
