"""A fork server for the durability tests: loads the model once, then forks writers on demand.

Loading torch and the model takes seconds; a kill test needs dozens of fresh processes. So this
script loads the embedder once (single-threaded, so forking is safe), then reads one JSON
command per line on stdin and forks a child for each:

- ``{"run": "churn", "data_dir": D, "seed": S}``: the child adds, updates, deletes and
  consolidates in a loop until it is killed, writing ``B <op> <json>`` before each operation
  and ``A <op> <json>`` once it has returned (acknowledged).
- ``{"run": "add", "data_dir": D, "content": C, "user_id": U}``: the child adds one memory,
  writes ``A add <json>`` and exits.

Each command may carry ``"vector": {...}``: the ``[vector]`` settings (the engine under test).

Every child first writes ``pid <n>``; when a child ends this process writes
``exit <pid> <status>``. Output goes through ``os.write`` so no buffer is ever copied by fork.
"""

from __future__ import annotations

import json
import os
import random
import sys

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

WORDS = [
    *("river", "kite", "garden", "lantern", "copper", "harbour", "violin", "meadow", "orchard"),
    *("glacier", "falcon", "compass", "saffron", "thimble", "lighthouse", "pebble", "quarry"),
    *("tundra", "walnut", "ember", "canyon", "fjord", "juniper", "marble"),
]


def say(line: str) -> None:
    os.write(1, (line + "\n").encode())


def sentence(rng: random.Random) -> str:
    return "The " + " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 9))) + "."


def churn(service, rng: random.Random) -> None:
    from mcp_memory.store.records import MemoryFilter

    live = list(service.ledger.ids(MemoryFilter()))
    while True:
        op = rng.choices(["add", "near", "update", "delete", "consolidate"], [5, 2, 2, 2, 1])[0]
        if op in ("update", "delete") and not live:
            op = "add"
        if op in ("add", "near"):
            text = sentence(rng)
            if op == "near" and live:
                base = service.ledger.get(rng.choice(live))
                text = base.content.rstrip(".") + " today." if base else text
            say("B add " + json.dumps({"content": text}))
            result = service.add(text, user_id="kim")
            if result.duplicate_of is None:
                live.append(result.id)
            say("A add " + json.dumps({"id": result.id, "content": result.memory.content}))
        elif op == "update":
            target, text = rng.choice(live), sentence(rng)
            say("B update " + json.dumps({"id": target, "content": text}))
            service.update(target, content=text)
            say("A update " + json.dumps({"id": target, "content": text}))
        elif op == "delete":
            target = rng.choice(live)
            say("B delete " + json.dumps({"id": target}))
            service.delete(target)
            live.remove(target)
            say("A delete " + json.dumps({"id": target}))
        else:
            say("B consolidate {}")
            result = service.consolidate(user_id="kim")
            merged = [[a.memory_id, a.other_ids] for a in result.actions]
            for _, absorbed in merged:
                live[:] = [i for i in live if i not in absorbed]
            say("A consolidate " + json.dumps({"merged": merged}))


def child(command: dict, embedder) -> None:
    from mcp_memory.config import load_settings
    from mcp_memory.factory import build_service

    say(f"pid {os.getpid()}")
    settings = load_settings(data_dir=command["data_dir"], vector=command.get("vector") or None)
    service = build_service(settings, embedder=embedder)
    if command["run"] == "churn":
        churn(service, random.Random(command["seed"]))
    else:
        result = service.add(command["content"], user_id=command.get("user_id"))
        say("A add " + json.dumps({"id": result.id, "content": result.memory.content}))
        service.close()


def main() -> None:
    import threading

    import torch
    import tqdm.asyncio
    import tqdm.auto
    import tqdm.std

    torch.set_num_threads(1)
    # tqdm guards its instances with a multiprocessing lock shared by every fork of this
    # process: a child killed while holding it would hang all later children. Thread locks
    # are copied per child instead (nothing holds them at fork: this process has one thread).
    for cls in {tqdm.std.tqdm, tqdm.auto.tqdm, tqdm.asyncio.tqdm}:
        cls.set_lock(threading.RLock())
    from mcp_memory.config import Settings
    from mcp_memory.factory import build_embedder

    # One torch thread: a fork of a process with an OpenMP pool hangs in the child's encode.
    embedder = build_embedder(Settings(performance={"encode_threads": 1}))
    embedder.embed(["warm up"])
    say("ready")
    for line in sys.stdin:
        command = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                child(command, embedder)
            except BaseException as exc:  # report, never fall back into the server loop
                say(f"error {type(exc).__name__}: {exc}")
                code = 1
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        say(f"exit {pid} {status}")


if __name__ == "__main__":
    main()
