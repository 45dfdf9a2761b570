"""Hung asyncio programs for test_asyncio.py.

FA_SCENARIO in the environment: "service" (the README's: workers stuck on a lock another task
holds, nested gather, a TaskGroup on 3.11+, a task hung in its cancellation
cleanup, and a second thread running its own loop), "many" (1,000 tasks) or
"crash" (a coroutine that crashes); FA_TRIGGER: "timeout" (arm
dump_traceback_later(exit=True) once every loop is parked), "signal" (the
test sends one after "ready") or "crash".

Once every loop waits in its selector with its main task where it waits
forever (nothing runs after that), a prober thread prints one JSON line on
stdout: what asyncio itself says (asyncio.all_tasks(), each coroutine's
cr_frame / cr_await), which the test compares with the dump.  Then "ready".  Lines that tests look up end
with a "# marker" comment (dumps.line_of).
"""
import asyncio
import ctypes
import json
import linecache
import os
import sys
import threading
import time
import types

import faulthandler_auto

# -I leaves the script's directory off sys.path
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from parking import marked_line  # noqa: E402

SCENARIO, TRIGGER = os.environ["FA_SCENARIO"], os.environ["FA_TRIGGER"]


# every task, so that none is collected: a task is referenced only by what
# wakes it up, and these wait on futures nothing else references
KEEP = []


def chain(task):
    """The await chain the dump must show: each coroutine's frame, while
    what it awaits is a coroutine or generator too."""
    frames = []
    coro = task.get_coro()
    while isinstance(coro, (types.CoroutineType, types.GeneratorType)):
        frame = coro.cr_frame if isinstance(coro, types.CoroutineType) else coro.gi_frame
        if frame is None:
            break
        frames.append([frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name])
        coro = coro.cr_await if isinstance(coro, types.CoroutineType) else coro.gi_yieldfrom
    return frames


def describe(loop):
    """{task name: what asyncio says about it} for the tasks of `loop`."""
    tasks = {}
    for task in asyncio.all_tasks(loop):
        cancelling = task.cancelling() > 0 if hasattr(task, "cancelling") else False
        waiter = task._fut_waiter
        tasks[task.get_name()] = {
            "state": "cancelling" if cancelling else "pending",
            "frames": chain(task),
            "awaiting": None if waiter is None else type(waiter).__name__,
            "awaiting_task": waiter.get_name() if isinstance(waiter, asyncio.Task) else None,
        }
    return tasks


async def hold(lock, held):
    async with lock:
        held.set()
        await asyncio.Event().wait()  # hold


async def use(lock):
    async with lock:  # use
        pass


async def leaf(forever):
    await forever.wait()  # leaf


async def middle(forever):
    await leaf(forever)  # middle


async def stubborn(started):
    try:
        started.set()
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        await asyncio.Event().wait()  # cleanup


async def in_group(forever):
    async with asyncio.TaskGroup() as group:  # group
        group.create_task(leaf(forever), name="grouped")


def crash():
    ctypes.string_at(0)  # crash


async def crashing():
    await asyncio.sleep(0)
    crash()  # crashing


async def gatherer(forever):
    async def inner():
        await asyncio.gather(middle(forever))  # inner
    await asyncio.gather(middle(forever), inner())  # gather


def parked(thread, loop, task, marker):
    """Is `thread`'s loop waiting in its selector with nothing ready to run
    (a loop with callbacks ready polls with no timeout: 1,000 new tasks may
    not have started yet), with `task` (its main task) suspended at
    `marker`, where it waits forever?  From then on nothing runs."""
    if loop._ready:
        return False
    frame = sys._current_frames().get(thread.ident)
    if frame is None or frame.f_code.co_name != "select":
        return False
    if "_selector.poll(" not in linecache.getline(frame.f_code.co_filename, frame.f_lineno):
        return False
    coro_frame = task.get_coro().cr_frame
    return coro_frame is not None and coro_frame.f_lineno == marked_line(main, marker)


def prober(loops, threads):
    """Once every loop is parked, say what asyncio says, then "ready"."""
    while not all(parked(thread, *loops[name], name) for name, thread in threads.items()):
        time.sleep(0.001)
    described = {name: describe(loop) for name, (loop, _) in loops.items()}
    print(json.dumps(described), flush=True)
    if TRIGGER == "timeout":
        faulthandler_auto.dump_traceback_later(0.01, exit=True)
    print("ready", flush=True)


def other_loop(loops, started):
    async def side():
        # made in the loop: before 3.10 an Event made outside one binds the
        # thread's default loop, which a thread other than the main one lacks
        forever = asyncio.Event()
        KEEP.append(asyncio.create_task(middle(forever), name="side-worker"))
        loops["side"] = (asyncio.get_running_loop(), asyncio.current_task())
        started.set()
        await forever.wait()  # side

    asyncio.run(side())


async def main():
    loops = {"main": (asyncio.get_running_loop(), asyncio.current_task())}
    threads = {"main": threading.main_thread()}
    forever = asyncio.Event()
    if SCENARIO == "crash":
        await asyncio.create_task(crashing(), name="crasher")  # await-crasher
    elif SCENARIO == "many":
        for i in range(int(os.environ.get("FA_TASKS", "1000"))):
            KEEP.append(asyncio.create_task(middle(forever), name="many-%d" % i))
    else:
        lock = asyncio.Lock()
        held = asyncio.Event()
        KEEP.append(asyncio.create_task(hold(lock, held), name="holder"))
        await held.wait()
        for i in range(2):
            KEEP.append(asyncio.create_task(use(lock), name="user-%d" % i))
        KEEP.append(asyncio.create_task(gatherer(forever), name="gatherer"))
        started = asyncio.Event()
        doomed = asyncio.create_task(stubborn(started), name="doomed")
        KEEP.append(doomed)
        await started.wait()
        doomed.cancel()
        if sys.version_info >= (3, 11):
            KEEP.append(asyncio.create_task(in_group(forever), name="group"))
        side_started = threading.Event()
        threads["side"] = threading.Thread(target=other_loop, args=(loops, side_started),
                                           name="side-loop", daemon=True)
        threads["side"].start()
        side_started.wait()
    threading.Thread(target=prober, args=(loops, threads), name="prober", daemon=True).start()
    await forever.wait()  # main


asyncio.run(main())
