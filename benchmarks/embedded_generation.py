"""Speed of the embedded provider (SmolLM2-135M-Instruct via llama.cpp) on this machine.

Prints load time, prompt-processing tokens/s, generation tokens/s and peak RSS. Each prompt is different so that
llama.cpp's prefix cache cannot skip work. Run: ``.venv/bin/python benchmarks/embedded_generation.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import resource
import statistics
import time

from nacre.conversation import Conversation
from nacre.models import EmbeddedChatModel, GenerationConfig

TOPICS = ["lighthouses", "bread baking", "tide pools", "bicycles", "paper making", "honeybees", "glaciers", "kites"]


def long_prompt(i: int) -> str:
    topic = TOPICS[i % len(TOPICS)]
    body = " ".join(f"Note {j} about {topic}: it has a history, uses, and some surprising facts." for j in range(24))
    return f"Request {i}. Read these notes and summarise them.\n{body}"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="measured runs per figure (default 5)")
    parser.add_argument("--gen-tokens", type=int, default=128, help="tokens to generate per run (default 128)")
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: all cores)")
    args = parser.parse_args()

    model = EmbeddedChatModel("smollm2-135m", n_ctx=4096, n_threads=args.threads)
    start = time.perf_counter()
    runtime = model.runtime()
    load_s = time.perf_counter() - start
    await model.generate(Conversation.from_text("warm up"), config=GenerationConfig(max_tokens=4))

    prompt_rates: list[float] = []
    prompt_sizes: list[int] = []
    for i in range(args.runs):
        out = await model.generate(Conversation.from_text(long_prompt(i)), config=GenerationConfig(max_tokens=1))
        prompt_rates.append(out.usage.prompt_tokens / out.latency_s)
        prompt_sizes.append(out.usage.prompt_tokens)
    prompt_rate = statistics.median(prompt_rates)

    gen_rates: list[float] = []
    gen_counts: list[int] = []
    for i in range(args.runs):
        conv = Conversation.from_text(f"Story {i}: write a long, detailed story about {TOPICS[i % len(TOPICS)]}.")
        out = await model.generate(conv, config=GenerationConfig(max_tokens=args.gen_tokens, seed=i))
        # Subtract the prompt's share, estimated from the prompt rate measured above.
        decode_s = out.latency_s - out.usage.prompt_tokens / prompt_rate
        gen_rates.append(out.usage.completion_tokens / decode_s)
        gen_counts.append(out.usage.completion_tokens)

    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; llama.cpp threads: {runtime.llama.n_threads}")
    print(f"model: {model.model_id} (n_ctx 4096)")
    print(f"load time:          {load_s:.2f} s")
    print(
        f"prompt processing:  {prompt_rate:.0f} tokens/s "
        f"(median of {args.runs}, prompts of {min(prompt_sizes)}-{max(prompt_sizes)} tokens; "
        f"range {min(prompt_rates):.0f}-{max(prompt_rates):.0f})"
    )
    print(
        f"generation:         {statistics.median(gen_rates):.0f} tokens/s "
        f"(median of {args.runs}, {min(gen_counts)}-{max(gen_counts)} tokens each; "
        f"range {min(gen_rates):.0f}-{max(gen_rates):.0f})"
    )
    print(f"peak RSS:           {peak_rss_mb:.0f} MB")


if __name__ == "__main__":
    asyncio.run(main())
