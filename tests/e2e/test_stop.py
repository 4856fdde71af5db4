"""How the server stops: Ctrl-C (SIGINT) or SIGTERM ends long polls at once with empty answers,
drains the requests in flight, and exits 0; a second signal stops without waiting. What was
committed before the stop is there after a restart."""

import signal
import threading
import time

import pytest

from conftest import machine


def in_thread(fn):
    """Runs fn in a thread; the returned list gets its result or the exception it raised."""
    out = []

    def run():
        try:
            out.append(fn())
        except Exception as e:  # noqa: BLE001 - handed to the test
            out.append(e)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_stop_ends_long_polls_and_exits_cleanly(make_server, sig):
    server = make_server()
    sfn, sqs = server.client(), server.client(service="sqs")
    activity = sfn.create_activity(name="idle")["activityArn"]
    queue = sqs.create_queue(QueueName="idle")["QueueUrl"]
    waiting = machine(sfn, "waits", {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 600, "End": True}}})
    execution = sfn.start_execution(stateMachineArn=waiting, name="kept")["executionArn"]
    # a 60 s and a 20 s long poll, each on its own connection
    task_poll, task = in_thread(lambda: server.client().get_activity_task(activityArn=activity))
    queue_poll, received = in_thread(
        lambda: server.client(service="sqs").receive_message(QueueUrl=queue, WaitTimeSeconds=20)
    )
    time.sleep(1)
    assert task_poll.is_alive() and queue_poll.is_alive(), "the long polls answered before the stop"

    t0 = time.time()
    server.proc.send_signal(sig)
    assert server.proc.wait(8) == 0
    took = time.time() - t0
    assert took < 5, f"the stop took {took:.1f} s"
    task_poll.join(5)
    queue_poll.join(5)
    assert not isinstance(task[0], Exception), task[0]
    assert not task[0].get("taskToken"), task[0]
    assert not isinstance(received[0], Exception), received[0]
    assert not received[0].get("Messages"), received[0]
    assert "shoal: shutting down" in server.output()

    server.start()
    d = server.client().describe_execution(executionArn=execution)
    assert d["status"] == "RUNNING"


def test_the_drain_waits_for_a_request_in_flight_and_a_second_signal_ends_it(make_server):
    server = make_server()
    sfn = server.client()
    express = machine(
        sfn, "slow", {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 60, "End": True}}}, kind="EXPRESS"
    )
    sync_call, answer = in_thread(lambda: server.client().start_sync_execution(stateMachineArn=express, input="{}"))
    time.sleep(1)
    server.proc.send_signal(signal.SIGTERM)
    time.sleep(2)
    assert server.proc.poll() is None, "the server did not wait for the request in flight"
    assert sync_call.is_alive()

    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(5) == 0
    log = server.output()
    assert "shoal: shutting down" in log
    assert "stopping without waiting for the requests in flight" in log
    sync_call.join(5)
    assert isinstance(answer[0], Exception), f"the cut-off request was answered: {answer[0]}"
