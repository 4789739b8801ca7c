"""Every exercise both ways: its reference solution passes its check, and a typical wrong answer is rejected with
the message that teaches why — on the real cluster where the check asks it. Plus the kit: placeholders, hints,
solutions and the progress a learner keeps."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import nbformat
import pytest
from confluent_kafka import Producer

from labkit import Lab, SeatingConfig, exercises
from labkit.domain.naming import KafkaConsumerGroupBuilder, KafkaTopicBuilder
from labkit.errors import ConfigError
from labkit.exercises import (
    consumer_loop,
    consumers,
    dashboard,
    delivery,
    keys,
    lag_code,
    names,
    offsets,
    partition_safety,
    partitioning,
    producer_code,
    raw_request,
    rebalance,
    recovery,
    schemas,
    sending,
    share_work,
    slow_work,
    stream_windows,
    topic_code,
    transactions,
)
from labkit.exercises.kit import Exercise, ____, correct, wrong
from labkit.exercises.progress import Progress
from labkit.experiments.booking_summary import messages_per_partition
from labkit.experiments.load import send_burst, wait_all
from labkit.kafka.clients import base_config
from labkit.polling import wait_until
from labkit.settings import Settings

# The default venue's partition map (10 sections × 10 subsections, partition = subsection index) with 10 seats
# per subsection, so that selling one out takes a few bookings.
TEN_SEATS = SeatingConfig(sections="ABCDEFGHIJ", subsections=10, rows=2, seats_per_row=5)
SMALL = SeatingConfig(sections="ABC", subsections=2, rows=2, seats_per_row=5)


@pytest.fixture
def learner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A learner of their own, with progress under a fresh LABKIT_HOME."""
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LABKIT_LEARNER", "ada")
    return Settings.from_env()


def _toy() -> Exercise:
    return Exercise(
        key="01.event_names",  # a real key, so that progress() lists it
        notebook="00",
        title="toy",
        statement="answer 42",
        hints=("it is a number", "six times seven"),
        judge=lambda answer: correct("yes") if answer == 42 else wrong(f"{answer!r} is not six times seven"),
        reference=lambda: 42,
    )


# -- the kit ------------------------------------------------------------------------------------------------
@pytest.mark.unit
def test_a_placeholder_is_not_yet_with_the_first_hint_and_is_not_remembered(
    learner: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    toy = _toy()

    def unfinished(admin: object, name: str) -> None:
        ____  # noqa: B018 (a function whose body still holds the blank)

    for answer in (____, {"topic": ____}, [1, ____], unfinished):
        verdict = toy.evaluate(answer)
        assert verdict.unsolved and not verdict.solved
        toy.check(answer)
        printed = capsys.readouterr().out
        assert printed.startswith("Not yet.") and "Hint: it is a number" in printed
    assert exercises.progress(learner).set_index("exercise").status["01.event_names"] == "not yet"


@pytest.mark.unit
def test_a_right_answer_is_remembered_listed_and_reset(learner: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    toy = _toy()
    toy.check(41)
    assert "Not quite. 41 is not six times seven" in capsys.readouterr().out
    assert exercises.progress(learner).set_index("exercise").status["01.event_names"] == "not yet"
    toy.check(42)
    assert capsys.readouterr().out == "Correct. yes\n"
    frame = exercises.progress(learner)
    assert len(frame) == len(exercises.ALL) == 24
    assert frame.set_index("exercise").status.to_dict() == {
        e.key: "solved" if e.key == "01.event_names" else "not yet" for e in exercises.ALL
    }
    assert (learner.home / "exercises" / "ada.json").is_file()
    assert exercises.reset(settings=learner) == ["01.event_names"]
    assert (exercises.progress(learner).status == "not yet").all()
    with pytest.raises(ValueError, match="no exercise \\['nope'\\]"):
        exercises.reset(["nope"], learner)


@pytest.mark.unit
def test_hints_come_in_turn_and_the_solution_is_the_reference_code(
    learner: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    toy = _toy()
    toy.hint()
    toy.hint()
    toy.hint()  # stays on the last
    assert capsys.readouterr().out.splitlines() == [
        "Hint 1 of 2: it is a number",
        "Hint 2 of 2: six times seven",
        "Hint 2 of 2: six times seven",
    ]
    with pytest.raises(ValueError, match="hints 1 to 2"):
        toy.hint(3)
    partitioning.own_partitioner.solution()
    assert "def _reference(section: str, subsection: int, partitions: int) -> int:" in capsys.readouterr().out
    assert Progress.for_learner(learner).read()["02.own_partitioner"].keys() == {"solution_seen_at"}
    assert exercises.progress(learner).set_index("exercise").status["02.own_partitioner"] == "solution seen"


@pytest.mark.unit
def test_a_check_says_which_context_it_needs() -> None:
    with pytest.raises(TypeError, match="needs lab=…, event_id=…"):
        consumers.predict_lag.evaluate({})
    with pytest.raises(TypeError, match="takes no keyword arguments"):
        partitioning.own_partitioner.evaluate(____, lab=None)


@pytest.mark.unit
def test_the_learner_name_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="LABKIT_LEARNER"):
        Settings.from_env({"LABKIT_LEARNER": "a/b"})
    assert Settings.from_env({"LABKIT_LEARNER": "grace"}).learner == "grace"


@pytest.mark.unit
def test_labkit_exercises_lists_progress_and_resets_it(learner: Settings) -> None:
    Progress.for_learner(learner).mark_solved("02.own_partitioner")
    env = {"LABKIT_HOME": str(learner.home), "LABKIT_LEARNER": "ada", "PATH": "/usr/bin:/bin"}

    def labkit(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "labkit.cli", *args], capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stderr
        return done.stdout

    listing = labkit("exercises")
    assert "02.own_partitioner          solved" in listing and "ada: 1 of 24 solved" in listing
    assert "04.who_moves                not yet" in listing
    assert "forgot 1 exercise(s) of ada: 02.own_partitioner" in labkit("exercises", "reset")
    assert "ada: 0 of 24 solved" in labkit("exercises", "list")


# -- 01 and 02: no cluster ------------------------------------------------------------------------------------
@pytest.mark.unit
def test_event_names_reference_passes_and_miscounted_underscores_are_named() -> None:
    assert names.event_names.evaluate(names.event_names.reference()).solved
    verdict = names.event_names.evaluate(
        {
            "topic": "event-id-42_____seat-reservation-failed______seat-reservation-service___to___ticketing-service",
            "group": "event-id-42______ticketing-service--42",
        }
    )
    assert not verdict.solved
    assert "after 'event-id-42' the spec puts 6 underscores, your topic has 5" in verdict.message
    assert "after 'event-id-42' the spec puts 5 underscores, your group has 6" in verdict.message
    swapped = names.event_names.evaluate(
        {
            "topic": "event-id-42______seat-reservation-failed______ticketing-service___to___seat-reservation-service",
            "group": "event-id-42_____ticketing-service--42",
        }
    )
    assert "swap the two" in swapped.message


def _spec_formula_unchanged(section: str, subsection: int, partitions: int) -> int:
    return "ABCDEFGHIJKL".index(section) * 10 + (subsection - 1)  # still 10 subsections per section


def _wraps_by_subsection(section: str, subsection: int, partitions: int) -> int:
    return ("ABCDEFGHIJKL".index(section) * 8 + (subsection - 1)) % partitions


@pytest.mark.unit
def test_own_partitioner_reference_passes_and_typical_mistakes_are_explained() -> None:
    check = partitioning.own_partitioner.evaluate
    assert check(partitioning.own_partitioner.reference).solved
    out_of_range = check(_spec_formula_unchanged)
    assert "partition_for('J', 7, 96) = 96: a 96-partition topic has partitions 0 to 95" in out_of_range.message
    split = check(_wraps_by_subsection)
    assert "with 12 partitions, section A's subsections go to partitions [0, 1, 2, 3, 4, 5, 6, 7]" in split.message
    assert check(lambda s, n, p: ____).unsolved
    assert "answer with your function" in check(3).message


@pytest.mark.unit
def test_rush_reference_whole_requests_first_come_first_served() -> None:
    rush = sending.rush_outcome.reference
    assert rush(free_seats=493, requests=200) == {"RESERVED": 123, "NOT_ENOUGH_SEATS": 77, "SOLD_OUT": 0}
    assert rush(free_seats=500, requests=200) == {"RESERVED": 125, "NOT_ENOUGH_SEATS": 0, "SOLD_OUT": 75}


# -- on the cluster -------------------------------------------------------------------------------------------
@pytest.mark.integration
def test_own_topic_is_checked_on_the_cluster(lab: Lab) -> None:
    event_id = lab.new_event(SMALL)
    check = names.own_topic.evaluate
    topic = names.release_topic(event_id)
    assert "there is no topic" in check(topic, lab=lab, event_id=event_id).message
    assert "your topic has 5" in check(topic.replace("______", "_____", 1), lab=lab, event_id=event_id).message
    lab.kafka_tool("kafka-topics", "--create", "--topic", topic, "--partitions", "2", "--replication-factor", "1")
    verdict = check(topic, lab=lab, event_id=event_id)
    assert "it has 2 partitions; one per section is 3 (A, B, C)" in verdict.message
    assert "partition 0 has 1 replica(s)" in verdict.message
    lab.kafka_tool("kafka-topics", "--delete", "--topic", topic)
    wait_until(lambda: topic not in lab.kafka_tool("kafka-topics", "--list").split(), 60, "the topic's deletion")
    assert check(names.own_topic.reference(lab, event_id), lab=lab, event_id=event_id).solved
    lab.teardown_events([event_id])  # the learner's topic goes with the event's own
    assert topic not in lab.kafka_tool("kafka-topics", "--list").split()


@pytest.mark.integration
def test_predict_lag_and_who_moves_are_checked_against_the_brokers(lab: Lab) -> None:
    event_id = lab.new_event(TEN_SEATS)
    lab.start_consumers(ticketing=1, seat_reservation=2, event_id=event_id)
    lab.wait_for_consumers(60)
    predict = consumers.predict_lag.evaluate
    assert "member(s) reading reserve-seats" in predict({}, lab=lab, event_id=event_id).message

    moves = consumers.who_moves
    before = consumers.assignment(lab, event_id)
    assert len(before) == 100 and len(set(before.values())) == 2
    assert "no partition changed owner" in moves.evaluate(set(), lab=lab, event_id=event_id, before=before).message
    answer = moves.reference(lab, before)
    stayed = set(before) - answer
    lab.remove_consumer("seat-reservation")
    lab.wait_for_consumers(60)
    assert moves.evaluate(answer, lab=lab, event_id=event_id, before=before).solved
    wrong_answer = moves.evaluate(answer | {min(stayed)}, lab=lab, event_id=event_id, before=before)
    assert f"partition {min(stayed)} did not move: it stayed with" in wrong_answer.message
    missed = moves.evaluate(answer - {min(answer)}, lab=lab, event_id=event_id, before=before)
    assert f"partition {min(answer)} moved from" in missed.message

    lab.remove_consumer("seat-reservation")  # nobody reads reserve-seats now
    seat_group = KafkaConsumerGroupBuilder.seat_reservation_service(event_id)
    wait_until(lambda: lab.group_members(event_id)[seat_group] == 0, 60, "the group to be empty")
    earlier = [lab.book(event_id, "A", 1, quantity=1) for _ in range(2)]
    lab.flush()
    lag_before = {p: lag for p, lag in lab.reservation_lag(event_id).set_index("partition").lag.items() if lag}
    assert lag_before == {0: 2}, lag_before
    mine = [("D", 4), ("D", 4), ("H", 9)]
    for section, subsection in mine:
        lab.book(event_id, section, subsection, quantity=1)
    lab.flush()
    assert predict(consumers.predict_lag.reference(lag_before, mine), lab=lab, event_id=event_id).solved
    only_mine = predict(consumers.predict_lag.reference({}, mine), lab=lab, event_id=event_id)
    assert "partition 0 (A-1): you predicted lag 0, the brokers report 2" in only_mine.message
    by_name = predict({"D-4": 2}, lab=lab, event_id=event_id)
    assert "key the prediction by partition number, not 'D-4': D-4 is partition 33" in by_name.message
    lab.start_consumers(ticketing=0, seat_reservation=1, event_id=event_id)
    assert all(b.wait(60).done for b in earlier)


@pytest.mark.integration
def test_rush_outcome_and_hot_partition_are_checked_against_the_store_and_the_log(lab: Lab) -> None:
    event_id = lab.new_event(TEN_SEATS)
    lab.start_consumers(ticketing=1, seat_reservation=1, event_id=event_id)
    lab.wait_for_consumers(60)
    free = lab.inventory.counters(event_id, "J-10")["available"]
    rush = send_burst(lab, event_id, 30, quantity=(4, 4), section="J", subsection=10, seed=1)
    ids = [b.booking_id for b in rush]
    assert wait_all(lab, event_id, ids, timeout=60) == 0
    outcome = sending.rush_outcome
    assert outcome.evaluate(outcome.reference(free, 30), lab=lab, event_id=event_id, booking_ids=ids).solved
    sold_out = outcome.evaluate({"RESERVED": 2, "SOLD_OUT": 28}, lab=lab, event_id=event_id, booking_ids=ids)
    assert "NOT_ENOUGH_SEATS: you predicted 0, the store recorded 28" in sold_out.message
    assert "leaving 2 in J-10" in sold_out.message

    topic = KafkaTopicBuilder.reserve_seats__ticketing_to_seat_reservation(event_id)
    before = messages_per_partition(lab.bootstrap_servers, topic, 100)
    burst = sending.skewed_burst(lab, event_id, seed=3)
    after = messages_per_partition(lab.bootstrap_servers, topic, 100)
    hot = sending.hot_partition.reference(before, after)
    assert hot != 99, "the seed picks another subsection than the rush's"
    assert sending.hot_partition.evaluate(hot, burst=burst).solved
    fullest = sending.hot_partition.evaluate(99, burst=burst)  # J-10: 30 of the rush + a few of the burst
    assert "partition 99 holds the most messages in all" in fullest.message
    assert (
        "answer with the partition's number: J-10 is partition 99"
        in sending.hot_partition.evaluate("J-10", burst=burst).message
    )


@pytest.mark.integration
def test_first_sold_out_is_checked_against_the_stores(lab: Lab) -> None:
    event_id = lab.new_event(TEN_SEATS)
    lab.start_consumers(ticketing=1, seat_reservation=2, event_id=event_id)
    lab.wait_for_consumers(60)
    lab.book(event_id, "A", 1, quantity=1).wait(60)
    check = dashboard.first_sold_out.evaluate
    assert "no subsection is sold out yet" in check("A-1", lab=lab, event_id=event_id).message
    dashboard.rush(lab, event_id, seed=5)
    first = dashboard.first_sold_out.reference(lab, event_id)
    assert check(first, lab=lab, event_id=event_id).solved
    times = dashboard.sold_out_at(lab, event_id)
    assert len(times) == 3 and times[first] == min(times.values())
    for subsection, at in times.items():  # one sold out in the same millisecond as the first is right too
        verdict = check(subsection, lab=lab, event_id=event_id)
        assert verdict.solved == (at == times[first]), verdict.message
        if at > times[first]:
            assert f"{subsection} sold out, but" in verdict.message and "after" in verdict.message
    assert "A-1 has 9 seats left: it did not sell out" in check("A-1", lab=lab, event_id=event_id).message


def _answered_event(lab: Lab, bookings: int, seed: int) -> int:
    """A new small event with consumers running and `bookings` one-seat bookings, all answered."""
    event_id = lab.new_event(SMALL)
    lab.start_consumers(ticketing=1, seat_reservation=1, event_id=event_id)
    lab.wait_for_consumers(60)
    sent = send_burst(lab, event_id, bookings, quantity=(1, 1), seed=seed)
    assert wait_all(lab, event_id, [b.booking_id for b in sent], timeout=60) == 0
    return event_id


@pytest.mark.integration
def test_redeliveries_are_counted_from_the_log(lab: Lab) -> None:
    event_id = _answered_event(lab, 12, seed=2)
    counts = recovery.redeliveries.reference(lab.kafka_config, event_id)
    assert counts == {"total": 12, "distinct": 12}
    assert recovery.redeliveries.evaluate(counts, lab=lab, event_id=event_id).solved

    # a reply sent twice, as a consumer that crashed before committing sends it again
    topic = KafkaTopicBuilder.seat_reserved__seat_reservation_to_ticketing(event_id)
    first = _first_record(lab, topic)
    producer = Producer(base_config(lab.bootstrap_servers, "test-redelivery", acks="all"))
    producer.produce(topic, value=first, partition=0)
    assert producer.flush(30) == 0
    counts = recovery.redeliveries.reference(lab.kafka_config, event_id)
    assert counts == {"total": 13, "distinct": 12}
    verdict = recovery.redeliveries.evaluate(counts, lab=lab, event_id=event_id)
    assert verdict.solved and "1 answered twice" in verdict.message
    records = recovery.redeliveries.evaluate({"total": 13, "distinct": 13}, lab=lab, event_id=event_id)
    assert "distinct equals total: count booking ids, not records" in records.message
    short = recovery.redeliveries.evaluate({"total": 7, "distinct": 12}, lab=lab, event_id=event_id)
    assert "the topic holds 13 replies" in short.message


def _first_record(lab: Lab, topic: str) -> bytes:
    from confluent_kafka import Consumer

    consumer = Consumer(
        base_config(lab.bootstrap_servers, "test-reader", group_id=f"test-{uuid.uuid4()}", auto_offset_reset="earliest")
    )
    consumer.subscribe([topic])
    try:
        for _ in range(60):
            message = consumer.poll(1.0)
            if message is not None and message.error() is None and message.value():
                return bytes(message.value() or b"")
    finally:
        consumer.close()
    raise AssertionError(f"no record in {topic}")


# -- the notebooks ship them unsolved -------------------------------------------------------------------------
NOTEBOOKS = Path(__file__).parent.parent / "notebooks"
MODULES = {"names": names, "partitioning": partitioning, "consumers": consumers, "sending": sending}
MODULES |= {"dashboard": dashboard, "recovery": recovery, "delivery": delivery, "offsets": offsets}
MODULES |= {"transactions": transactions, "keys": keys}
MODULES |= {"topic_code": topic_code, "producer_code": producer_code, "consumer_loop": consumer_loop}
MODULES |= {"raw_request": raw_request, "rebalance": rebalance, "lag_code": lag_code, "slow_work": slow_work}
MODULES |= {"partition_safety": partition_safety, "schemas": schemas, "share_work": share_work}
MODULES |= {"stream_windows": stream_windows}


@pytest.mark.unit
@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_notebook_ships_its_exercises_unsolved_and_ends_with_progress(module: str) -> None:
    for exercise in MODULES[module].EXERCISES:
        notebook = nbformat.read(NOTEBOOKS / f"{exercise.notebook}.ipynb", as_version=4)
        code = [c for c in notebook.cells if c.cell_type == "code"]
        attribute = next(name for name, value in vars(MODULES[module]).items() if value is exercise)
        checks = [c for c in code if f"exercises.{module}.{attribute}" in c.source]
        assert checks, f"{exercise.notebook} has no cell with exercises.{module}.{attribute}"
        outputs = "".join(o.get("text", "") for c in code for o in c.outputs if o.output_type == "stream")
        assert "Correct." not in outputs, f"{exercise.notebook} was committed with a solved exercise"
        assert outputs.count("Not yet.") >= len(MODULES[module].EXERCISES)
        assert code[-1].source.strip().endswith("exercises.progress()"), f"{exercise.notebook}: no progress at the end"
