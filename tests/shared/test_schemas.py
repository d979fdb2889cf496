"""The checked-in JSON Schemas and AsyncAPI document match the catalog."""

from shared.schemas import asyncapi, stale_files
from shared.topics import EVENT_TOPICS


def test_checked_in_event_schemas_are_fresh__run_smguard_schemas_when_this_fails() -> None:
    assert stale_files() == []


def test_the_asyncapi_document_has_a_channel_for_every_event_topic() -> None:
    addresses = {channel["address"] for channel in asyncapi()["channels"].values()}
    assert addresses == set(EVENT_TOPICS)
