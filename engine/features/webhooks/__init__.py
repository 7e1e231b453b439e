"""Webhooks: signed (Standard Webhooks) deliveries of events to registered endpoints, retried, replayable."""
