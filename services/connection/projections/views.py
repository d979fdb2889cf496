"""The connection service's read models: one durable SQLite file per instance, fed by its subscriber.

It folds the service's own topics (connections, operators, the policy) and the incident topic (the
ledger), each event in one transaction with its id and resume offset, so a restart resumes where
it stopped. Every instance keeps all of it (its subscriber reads every partition): any instance
answers any GET, and the inbox decides with the policy history and the ledger.
"""

from __future__ import annotations

from pathlib import Path

from services.connection.projections.directory import CONNECTIONS, fold_connection, retag_connections, unlist_for
from services.connection.projections.incidents import fold_incident
from services.connection.projections.operators import fold_operator, fold_policy
from shared.config import Settings
from shared.documents import DocumentSink, Documents
from shared.envelope import Envelope
from shared.topics import CONNECTION_EVENTS, INCIDENT_EVENTS, OPERATOR_EVENTS, POLICY_EVENTS

TOPICS = (CONNECTION_EVENTS, POLICY_EVENTS, OPERATOR_EVENTS, INCIDENT_EVENTS)


class Views(DocumentSink):
    """Connections, recommendations, operators, the policy and its history, the incident ledger."""

    def __init__(self, path: Path, *, window_seconds: float = 7 * 86400) -> None:
        super().__init__(path, window_seconds=window_seconds)
        self._tag_for_matching()

    def _tag_for_matching(self) -> None:
        """Read models kept before connections carried their ``model`` and ``meter`` tags get them, once."""
        untagged = self.db.execute(
            "SELECT EXISTS (SELECT 1 FROM docs WHERE coll = ?) AND NOT EXISTS "
            "(SELECT 1 FROM tags WHERE coll = ? AND name = 'model')", (CONNECTIONS, CONNECTIONS),
        ).fetchone()[0]  # fmt: skip
        if untagged:
            self.db.execute("BEGIN")
            try:
                retag_connections(self.docs)
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    def fold(self, docs: Documents, envelope: Envelope) -> None:
        """Route one event to the fold of its topic."""
        topic = type(envelope.event).topic
        if topic == CONNECTION_EVENTS:
            fold_connection(docs, envelope)
        elif topic == OPERATOR_EVENTS:
            fold_operator(docs, envelope)
        elif topic == POLICY_EVENTS:
            fold_policy(docs, envelope)
        elif topic == INCIDENT_EVENTS and fold_incident(docs, envelope):
            unlist_for(docs, envelope.event.incident_id)  # type: ignore[attr-defined]


def views_at(settings: Settings, folder: Path | None = None) -> Views:
    """The instance's read models (or scratch ones in ``folder``), keeping applied event ids for the key window."""
    path = folder / "views.sqlite" if folder else settings.data_dir / "readmodels" / f"connection-{settings.instance}-views.sqlite"
    return Views(path, window_seconds=settings.key_window_days * 86400)
