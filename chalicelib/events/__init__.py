"""Delivering events: the dispatcher fans the outbox out to webhooks (signed per Standard
Webhooks, retried) and the guard keeps every delivery on public addresses. What an event is,
and when one is written, is the domain's (`chalicelib.domain.events`)."""
