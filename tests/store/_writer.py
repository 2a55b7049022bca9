"""A store writer run as a separate process by the crash tests: writes N items, resuming a run if given one."""

from __future__ import annotations

import sys

from nacre.conversation import Conversation, Message
from nacre.store import Store

MESSAGES_PER_ITEM = 400


def main() -> None:
    path, total, run_id = sys.argv[1], int(sys.argv[2]), (sys.argv[3] if len(sys.argv) > 3 else None)
    with Store(path) as store:
        run = store.resume_run(run_id) if run_id else store.start_run("test.crash", {"items": total})
        print(run.id, flush=True)
        done = store.completed_items(run.id)
        for i in range(total):
            key = f"item-{i:03d}"
            if key in done:
                continue
            msgs = [
                Message.user(f"{key} question {j}") if j % 2 == 0 else Message.assistant(f"answer {j}")
                for j in range(MESSAGES_PER_ITEM)
            ]
            store.record_conversation(run.id, key, Conversation(tuple(msgs)), metadata={"i": i})
        store.finish_run(run.id, summary={"items": total})


if __name__ == "__main__":
    main()
