"""The rehearsal's tests share the infra tests' synthesized app (one synth per session)."""

from tests.infra.conftest import monkeypatch_session, synth

__all__ = ["monkeypatch_session", "synth"]
