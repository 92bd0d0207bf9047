"""Events: what changed on a video, written with the change itself (a transactional outbox),
then delivered to webhooks (signed per Standard Webhooks) and streamed to people (SSE)."""
