"""Teams: POST-to-ack latency under concurrent conversations with a slow LLM, and turn overhead.

Everything real except Microsoft: ``nik serve``'s aiohttp app with the Teams platform,
JWT validation of every POST (locally signed tokens, keys from a loopback JWKS), the
inbox, the dispatcher, the conversation core with the LLM agent and one real search
of the sample manual, botbuilder's CloudAdapter sending the answer proactively to a
fake connector on 127.0.0.1 (``tests/adapters/teams_fake.py``).

* **ack**: ``--chats`` conversations post at once, ``--rounds`` times, while the model
  takes ``--delay`` seconds per answer: p50/p99 of POST → 201 (target: p99 < 2 s),
  then how long until every answer arrived.
* **turn overhead**: the same with an instant model, one conversation at a time:
  POST → answer at the connector, p50/p95.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "adapters"))

from _common import emit, machine, machine_line, percentile
from teams_fake import APP_ID, FakeBotFramework

from adapters.serve import running
from adapters.teams import TeamsPlatform
from bot.config import SAMPLE_MANUALS, Settings
from bot.runtime.composition import Nik

TITLE = "SolarFux SF-5000TL Installations- und Bedienungsanleitung"
TARGET_ACK_P99_S = 2.0


def responder(delay: float) -> web.Application:
    """An OpenAI-compatible model: a search call at once, the final answer after ``delay`` seconds."""

    async def completions(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        if body["messages"][-1]["role"] == "tool":
            await asyncio.sleep(delay)
            message: dict[str, Any] = {"role": "assistant", "content": f"Fehlerstrom zu hoch [{TITLE}, S. 8]."}
            finish = "stop"
        else:
            call = {
                "id": f"call_{time.monotonic_ns()}",
                "type": "function",
                "function": {"name": "search_knowledge", "arguments": json.dumps({"query": "E013"})},
            }
            message, finish = {"role": "assistant", "content": None, "tool_calls": [call]}, "tool_calls"
        if body.get("stream"):  # private chats stream: server-sent events as OpenAI sends them
            return await stream(request, message, finish)
        return web.json_response(
            {
                "id": "chatcmpl-bench",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": "bench",
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
        )

    async def stream(request: web.Request, message: dict[str, Any], finish: str) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        base = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": int(time.time()), "model": "b"}
        delta: dict[str, Any] = {"role": "assistant", "content": message.get("content") or ""}
        if message.get("tool_calls"):
            delta["tool_calls"] = [{"index": 0, **message["tool_calls"][0]}]
        for choice in (
            {"index": 0, "delta": delta, "finish_reason": None},
            {"index": 0, "delta": {}, "finish_reason": finish},
        ):
            await response.write(f"data: {json.dumps({**base, 'choices': [choice]})}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", completions)
    return app


async def serve_model(delay: float) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(responder(delay), shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/v1"


async def session(data_dir: str, delay: float, fake: FakeBotFramework) -> tuple[Settings, web.AppRunner]:
    model, url = await serve_model(delay)
    settings = Settings.model_validate(
        {
            "NIK_DATA_DIR": data_dir,
            "NIK_MANUALS_DIR": str(SAMPLE_MANUALS),
            "NIK_HOST": "127.0.0.1",
            "NIK_PORT": "0",
            "TEAMS_APP_ID": APP_ID,
            "TEAMS_APP_PASSWORD": "bench-secret",
            "OPENAI_API_KEY": "bench",
            "OPENAI_BASE_URL": url,
            "NIK_LLM_MODEL": "bench",
            "NIK_RATE_LIMIT": "0",  # the 20 conversations are not one person asking too fast
        }
    )
    return settings, model


async def run(delay: float, chats: int, rounds: int, turns: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as data:
        async with FakeBotFramework() as fake, aiohttp.ClientSession() as http:

            def platform(nik: Nik) -> TeamsPlatform:
                return TeamsPlatform(nik, cloud=fake.cloud())

            async def post(port: int, conversation: str, message_id: str) -> float:
                activity = fake.activity(
                    "personal_message",
                    id=message_id,
                    conversation={"conversationType": "personal", "id": conversation},
                    **{"from": {"id": f"29:{conversation}", "name": "Bench", "aadObjectId": f"aad-{conversation}"}},
                )
                headers = {"Authorization": f"Bearer {fake.sign()}", "Content-Type": "application/json"}
                started = time.perf_counter()
                url = f"http://127.0.0.1:{port}/api/messages"
                async with http.post(url, data=json.dumps(activity), headers=headers) as response:
                    await response.read()
                    if response.status != 201:
                        raise RuntimeError(f"POST answered {response.status}")
                return time.perf_counter() - started

            def answered() -> int:
                return len(fake.messages())

            # -- slow model: acknowledgement latency under load -----------------------------
            settings, model = await session(data, delay, fake)
            async with running(settings, factories=[platform]) as server:
                await asyncio.to_thread(server.nik.knowledge.index, [settings.manuals_dir])
                acks: list[float] = []
                started = time.perf_counter()
                round_max: list[float] = []
                for round_ in range(rounds):
                    batch = await asyncio.gather(
                        *(post(server.port, f"a:bench-{c}", f"slow-{round_}-{c}") for c in range(chats))
                    )
                    acks += batch
                    round_max.append(round(max(batch) * 1000, 1))
                    await asyncio.sleep(0.5)
                await fake.wait_for(lambda: answered() == chats * rounds, timeout=delay * rounds + 120)
                all_answered = time.perf_counter() - started
            await model.cleanup()

            # -- instant model: one turn's cost through the adapter -------------------------
            fake.sent.clear()
            settings, model = await session(data, 0.0, fake)
            async with running(settings, factories=[platform]) as server:
                overhead: list[float] = []
                for number in range(turns + 3):
                    before = answered()
                    started_turn = time.perf_counter()
                    await post(server.port, "a:bench-solo", f"instant-{number}")
                    await fake.wait_for(lambda before=before: answered() > before, timeout=60)  # type: ignore[misc]
                    if number >= 3:  # warm-up turns do not count
                        overhead.append(time.perf_counter() - started_turn)
            await model.cleanup()
    return {
        "machine": machine(),
        "slow_model_delay_s": delay,
        "ack": {
            "concurrent_chats": chats,
            "rounds": rounds,
            "n": len(acks),
            "p50_ms": round(percentile(acks, 50) * 1000, 1),
            "p99_ms": round(percentile(acks, 99) * 1000, 1),
            "max_ms": round(max(acks) * 1000, 1),
            "target_p99_s": TARGET_ACK_P99_S,
            "target_met": percentile(acks, 99) < TARGET_ACK_P99_S,
            "max_ms_per_round": round_max,
            "all_answered_s": round(all_answered, 1),
        },
        "instant_turn_ms": {
            "n": len(overhead),
            "p50": round(statistics.median(overhead) * 1000, 1),
            "p95": round(percentile(overhead, 95) * 1000, 1),
        },
    }


def print_human(result: dict[str, Any]) -> None:
    ack, turn = result["ack"], result["instant_turn_ms"]
    verdict = "met" if ack["target_met"] else "NOT met"
    print(f"machine: {machine_line(result['machine'])}")
    print(
        f"POST → 201 with a {result['slow_model_delay_s']:.0f} s model, "
        f"{ack['concurrent_chats']} conversations at once "
        f"× {ack['rounds']}: p50 {ack['p50_ms']} ms, p99 {ack['p99_ms']} ms, max {ack['max_ms']} ms over {ack['n']} "
        f"(target p99 < {ack['target_p99_s']:.0f} s: {verdict}); slowest per round {ack['max_ms_per_round']} ms; "
        f"all answers after {ack['all_answered_s']} s"
    )
    print(
        f"one turn with an instant model, POST → answer at the connector: p50 {turn['p50']} ms, "
        f"p95 {turn['p95']} ms over {turn['n']}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--delay", type=float, default=20.0, help="seconds the slow model takes per answer")
    parser.add_argument("--chats", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--turns", type=int, default=30)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    return emit(asyncio.run(run(args.delay, args.chats, args.rounds, args.turns)), args.json, print_human)


if __name__ == "__main__":
    sys.exit(main())
