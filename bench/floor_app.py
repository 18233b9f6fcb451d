"""The floor: a bare Bolt app that answers `/roadmap` with a constant Block Kit message.

Served by the same gunicorn command line as the bot (`gunicorn 'bench.floor_app:application()' …`), so the
difference between the two is the bot's own work: store queries, templates, the request guard.
BENCH_FLOOR_MODE=default turns on Bolt's default mode (process_before_response=False: the listener runs on a
thread pool and the request thread polls for ack() every 10 ms) to show what that mode costs.
"""

from __future__ import annotations

import os

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient

# About the size of a `/roadmap status` answer: a header, one section per cluster, a footer.
TEXT = "U.S.–Belarus roadmap: 6 clusters"
BLOCKS = [
    {"type": "header", "text": {"type": "plain_text", "text": "U.S.–Belarus normalisation roadmap"}},
    *[
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": f"*Cluster {i}*  `cluster-{i}`\nUnited States 3/8 done · Belarus 2/7 done\n"
                "Open reciprocal pairs: *4* · next move: Belarus (3), United States (1)\n"
                "Latest development: 3 Mar 2026",
            },
        }
        for i in range(1, 7)
    ],
    {"type": "context", "elements": [{"type": "mrkdwn", "text": "`/roadmap status <cluster>` for its steps"}]},
]


def application() -> SlackRequestHandler:
    """gunicorn entry point; reads the same environment as the bot."""
    default_mode = os.environ.get("BENCH_FLOOR_MODE", "") == "default"
    client = WebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"])
    app = App(
        client=client,
        signing_secret=os.environ["SLACK_SIGNING_SECRET"],
        process_before_response=not default_mode,
    )

    @app.command("/roadmap")
    def answer(ack) -> None:
        ack(text=TEXT, blocks=BLOCKS, response_type="ephemeral")

    @app.event("message")
    def on_message(ack) -> None:  # the floor of thread-reply ingest: a bare ack of the same signed event
        ack()

    return SlackRequestHandler(app)
