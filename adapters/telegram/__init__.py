"""The Telegram adapter: updates in (polling or webhook), the core's replies out.

translate.py  Update → IncomingMessage (pure)
render.py     Markdown → Telegram HTML parts, keyboards
replies.py    one turn's replies shown in a chat
client.py     the Bot API client: PTB's rate limiter, which errors are retried
albums.py     an album's photos as one message
platform.py   TelegramPlatform: lifecycle, polling, webhook, process
"""

from adapters.telegram.platform import TelegramPlatform

__all__ = ["TelegramPlatform"]
