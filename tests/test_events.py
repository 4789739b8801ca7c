"""An event's life cycle on the real cluster: listed, refused while consumers run, deleted as a unit."""

from __future__ import annotations

import pytest

from labkit import KafkaTopicBuilder, Lab, Settings
from labkit.errors import ConfigError, EventBusyError
from labkit.kafka.groups import list_groups
from labkit.kafka.topics import list_topics
from labkit.services.event_catalog import list_events
from tests.helpers import SMALL_VENUE

pytestmark = pytest.mark.integration


def test_an_event_is_listed_refused_while_consumed_then_deleted_as_a_unit(lab: Lab, event_id: int) -> None:
    lab.setup_event(event_id, SMALL_VENUE)
    lab.start_consumers(ticketing=1, seat_reservation=1, event_id=event_id)
    assert lab.book(event_id, "A", 1, quantity=1).wait(timeout=30).status == "RESERVED"
    admin = lab.admin
    (listed,) = [e for e in list_events(admin, lab.redis) if e.event_id == event_id]
    assert (listed.topics, listed.partitions, listed.groups, listed.has_seats) == (4, 13, 2, True)

    with pytest.raises(EventBusyError, match="stop_consumers"):
        lab.teardown_event(event_id)
    assert set(KafkaTopicBuilder.get_all_topics(event_id)) <= set(list_topics(admin))  # nothing deleted

    lab.stop_consumers()
    deletion = lab.teardown_event(event_id)
    assert sorted(deletion.topics) == sorted(KafkaTopicBuilder.get_all_topics(event_id))
    assert len(deletion.groups) == 2 and deletion.redis_keys > 0
    assert not set(KafkaTopicBuilder.get_all_topics(event_id)) & set(list_topics(admin))
    assert not [g for g in list_groups(admin) if g.startswith(f"event-id-{event_id}_")]
    assert not list(lab.redis.scan_iter(match=f"labkit:event:{event_id}:*"))
    assert event_id not in {e.event_id for e in list_events(admin, lab.redis)}
    with pytest.raises(ConfigError, match="not set up"):
        lab.book(event_id, "A", 1, quantity=1)


def test_new_event_has_an_unused_id_and_down_deletes_it(settings: Settings) -> None:
    with Lab(settings) as lab:
        taken = set(lab.events().event_id)
        event_id = lab.new_event(SMALL_VENUE)
        assert event_id not in taken and event_id in set(lab.events().event_id)
        assert lab.stats(event_id)["seats"]["available"] == SMALL_VENUE.total_seats
        kept = lab.new_event(SMALL_VENUE)
        lab.teardown_event(kept)  # deleted by hand: down() has nothing left to do for it
    with Lab(settings) as other:
        assert not {event_id, kept} & set(other.events().event_id)


def test_teardown_events_returns_once_nothing_lists_them_and_refuses_an_event_with_consumers(lab: Lab) -> None:
    first, second = lab.new_event(SMALL_VENUE), lab.new_event(SMALL_VENUE)
    lab.teardown_events([first, second], timeout=30)
    assert not {first, second} & set(lab.events().event_id)
    busy = lab.new_event(SMALL_VENUE)
    lab.start_consumers(ticketing=1, seat_reservation=0, event_id=busy)
    with pytest.raises(EventBusyError, match="stop_consumers"):
        lab.teardown_events([busy], timeout=1)
    assert busy in set(lab.events().event_id)


def test_reservation_lag_counts_partitions_the_group_never_committed(lab: Lab) -> None:
    event_id = lab.new_event(SMALL_VENUE)
    for _ in range(3):
        lab.book(event_id, "A", 2, quantity=1)  # nobody consumes: the group has no offsets at all
    lab.flush()
    lag = lab.reservation_lag(event_id).set_index("subsection")
    assert lag.lag.to_dict() == {"A-1": 0, "A-2": 3, "B-1": 0, "B-2": 0}
    assert lag.owner.isna().all()
