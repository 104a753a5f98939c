"""Chat turns and the replies they produce, independent of how a client streams them.

turn: storing and launching a turn; running: the reply being produced (a task of its own);
reply: what it accumulates and how it renders (live events, replays, the stored row);
event_log / redis_bus: its numbered events, in process and shared across workers;
watchdogs: time limits and loop detection; recovery: orphans and draining;
manager: the generations of this process and their supervisor.
"""
