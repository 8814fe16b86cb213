"""The Microsoft Teams adapter (Bot Framework). Every ``botbuilder`` import of Nik lives
in this package, so that moving to the Microsoft 365 Agents SDK touches nothing else.

    translate  activity JSON → IncomingMessage (pure)
    auth       inbound JWT validation, outbound credentials, the configured CloudAdapter auth
    render     replies → Teams messages, cards, progress updates, typing
    outbound   connector calls retried when safe
    platform   TeamsPlatform: POST /api/messages and the dispatcher's ``process``
"""

from adapters.teams.platform import TeamsPlatform

__all__ = ["TeamsPlatform"]
