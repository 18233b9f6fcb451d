"""Uploading a file to a channel (slack_sdk's files_upload_v2: files.getUploadURLExternal, a POST of the bytes to
the returned upload URL, then files.completeUploadExternal, which shares it with the initial comment), with every
failure turned into one plain sentence a user can act on.

Use the `poster` client (retries only 429): a completeUploadExternal whose connection dropped may have shared the
file already, so it is not retried blindly (docs/stack-traps.md, slack_sdk)."""

from __future__ import annotations

import http.client
import logging
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

log = logging.getLogger(__name__)

EXPLAIN = {
    "not_allowed_token_type": "this app's token may not upload files (uploads need the bot token, xoxb-…)",
    "missing_scope": "the app is missing the `{needed}` permission: reinstall it from slack-manifest.yaml",
    "file_too_large": "the file ({size}) is larger than Slack accepts",
    "file_size_exceeded": "the file ({size}) is larger than Slack accepts",
    "not_in_channel": "the bot is not in this channel: invite it with `/invite @roadmap`",
    "channel_not_found": "the bot cannot see this channel: invite it with `/invite @roadmap`",
    "ratelimited": "Slack is rate-limiting uploads: try again in a minute",
    "invalid_auth": "Slack did not accept the bot's token (SLACK_BOT_TOKEN)",
    "not_authed": "Slack did not accept the bot's token (SLACK_BOT_TOKEN)",
}


class UploadFailed(Exception):
    """The upload did not happen; str() is the reason in words."""


@dataclass(frozen=True)
class Uploaded:
    file_id: str
    permalink: str | None


def size_text(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB" if n >= 1_000_000 else f"{max(n // 1000, 1)} kB"


def upload(
    client: WebClient,
    *,
    channel: str,
    content: bytes,
    filename: str,
    title: str,
    comment: str | None = None,
    alt_text: str | None = None,
    thread_ts: str | None = None,
) -> Uploaded:
    try:
        response = client.files_upload_v2(
            channel=channel,
            file=content,
            filename=filename,
            title=title,
            initial_comment=comment,
            alt_txt=alt_text,
            thread_ts=thread_ts,
        )
    except SlackApiError as exc:
        data = exc.response.data if isinstance(exc.response.data, dict) else {}
        code = str(data.get("error") or exc.response.status_code)
        needed = data.get("needed") or "files:write"
        reason = EXPLAIN.get(code, "Slack refused the upload ({code})")
        raise UploadFailed(reason.format(needed=needed, size=size_text(len(content)), code=code)) from exc
    except (SlackClientError, OSError, http.client.HTTPException) as exc:
        # SlackRequestError: the upload URL answered non-200; OSError: the connection failed.
        log.warning("upload of %s to %s failed: %r", filename, channel, exc)
        raise UploadFailed(f"the file could not be sent to Slack ({exc.__class__.__name__}); try again") from exc
    file = response.get("file") or {}
    return Uploaded(str(file.get("id") or ""), file.get("permalink"))
