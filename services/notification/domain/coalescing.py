"""Notices that scale with incidents, not meters: which notices coalesce, into which group. Pure, no I/O.

A storm — a fleet block, an anomaly storm over many meters, a bulk approval — would otherwise tell
one operator once per meter. A coalescing rule of the table says what kind of notice an event makes
and what it is about (``Spec``); the group is (kind of notice, incident, target, operator), so an
operator's notice lists its own meters only and a second incident gets a notice of its own. An
incident an anomaly opened concerns one connection only (anomalies on one connection attach to its
open incident), so a storm of them is one group per operator: the *storm* basis. Events that name no
incident (reconnections, enforcement escalations) group per operator the same way.

A group's first notice is held ``hold`` seconds and takes every member that arrives meanwhile; once
its hold has passed (it is sent then), later members go to a digest held until at least ``digest``
seconds after the previous notice of the group — one notice per group and digest interval.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Callable, Iterator, Mapping, Sequence

from shared.events.notification import Coalescing, NoticeMember

MAX_LISTED = 50
"""Members a notice's text lists by id; the rest are counted and listed at ``GET /notifications/{id}/members``."""
MEMBERS_PER_EVENT = 100
"""Members one event carries (a batch of more is several events of one append), so a record stays small."""
STORM = "storm"
"""The basis of a group that is not one incident: anomaly-born incidents, or events that name no incident."""


@dataclass(frozen=True, slots=True)
class Spec:
    """What one event adds to a coalesced notice: the kind of notice, and the incident and connection it is about."""

    kind: str
    incident_id: str | None = None
    connection_id: str | None = None
    due_at: datetime | None = None
    anomaly: bool = False  # the event itself says an anomaly opened its incident


@dataclass(frozen=True, slots=True)
class Pacing:
    """How long a group's first notice waits for more members, and the least time between two of its notices."""

    hold: timedelta
    digest: timedelta

    def first(self, now: datetime) -> datetime:
        """When a group's first notice goes out."""
        return now + self.hold

    def next(self, now: datetime, previous_hold_until: datetime) -> datetime:
        """When a digest goes out: after its own hold, and no sooner than ``digest`` after the previous notice."""
        return max(now + self.hold, previous_hold_until + self.digest)


def basis(spec: Spec, incident: Mapping[str, Any] | None) -> str:
    """The incident the group is about, or the storm basis for an anomaly-born incident or none at all."""
    if spec.incident_id is None or spec.anomaly or (incident or {}).get("origin") == "anomaly":
        return STORM
    return spec.incident_id


def group_key(spec: Spec, *, incident: Mapping[str, Any] | None, target: str, operator_id: str | None) -> str:
    """The coalescing group of one route: per kind of notice, incident (or storm), target and operator."""
    return f"group:{spec.kind}:{basis(spec, incident)}:{target}:{operator_id or '-'}"


def member(spec: Spec, *, event_id: str, incident: Mapping[str, Any] | None) -> NoticeMember:
    """The member one event adds; an incident-level event of an anomaly's incident names its connection."""
    connection_id = spec.connection_id or (incident or {}).get("connection_id")
    return NoticeMember(event_id=event_id, connection_id=connection_id, incident_id=spec.incident_id, due_at=spec.due_at)


def chunks(members: Sequence[NoticeMember]) -> Iterator[list[NoticeMember]]:
    """Members in runs of at most MEMBERS_PER_EVENT."""
    for start in range(0, len(members), MEMBERS_PER_EVENT):
        yield list(members[start : start + MEMBERS_PER_EVENT])


Render = Callable[["Group"], tuple[str, str]]
"""A coalesced notice's (subject, body) as its group reads: the members it lists, how many in all, the earliest deadline."""


@dataclass(slots=True)
class Group:
    """A notice's part in its group (the notification's state): when it goes out, what it lists, what follows it."""

    key: str
    hold_until: datetime
    first_at: datetime
    head_subject: str
    head_body: str
    listed: list[NoticeMember] = field(default_factory=list)
    count: int = 0
    earliest_due: datetime | None = None
    digest_of: str | None = None
    followed_by: str | None = None

    def open(self, now: datetime) -> bool:
        """Still taking members: its hold has not passed (so it was not sent) and no digest follows it."""
        return self.followed_by is None and now < self.hold_until

    def join(self, members: Sequence[NoticeMember]) -> None:
        """Count the members in (the text lists the first MAX_LISTED) and keep the earliest deadline of all."""
        self.listed = [*self.listed, *members][:MAX_LISTED]
        self.count += len(members)
        dues = [m.due_at for m in members if m.due_at is not None]
        self.earliest_due = min([*dues, self.earliest_due] if self.earliest_due else dues, default=None)

    def joined(self, members: Sequence[NoticeMember]) -> "Group":
        """A copy with ``members`` counted in (what the text says once they join)."""
        after = replace(self, listed=list(self.listed))
        after.join(members)
        return after

    @property
    def held(self) -> timedelta:
        """How long its first member waited for the notice to go out: taken off the time to acknowledge it."""
        return max(self.hold_until - self.first_at, timedelta(0))

    @classmethod
    def of(cls, coalescing: Coalescing) -> "Group":
        """The group as a notice is queued with it."""
        group = cls(coalescing.group, coalescing.hold_until, coalescing.first_at, coalescing.head_subject,
                    coalescing.head_body, digest_of=coalescing.digest_of)  # fmt: skip
        group.join(coalescing.members)
        return group
