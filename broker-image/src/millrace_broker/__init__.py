"""Millrace broker: a Kafka-compatible streaming broker in asyncio Python."""
