"""Configuration: read once at start-up from the environment and ``.env``.

Every setting has the environment variable's name as its alias; an invalid value
fails at start with that name. Secrets are ``SecretStr`` and never printed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.errors import ConfigError

SAMPLE_MANUALS = Path(__file__).resolve().parent.parent / "knowledge" / "sample" / "manuals"
ADMIN_PLATFORMS = ("telegram", "teams", "console")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=False, frozen=True)

    data_dir: Path = Field(Path("./data"), validation_alias="NIK_DATA_DIR")
    manuals_dir: Path = Field(SAMPLE_MANUALS, validation_alias="NIK_MANUALS_DIR")
    embedder: str = Field("e5", validation_alias="NIK_EMBEDDER")
    lancedb_uri: str | None = Field(None, validation_alias="NIK_LANCEDB_URI")
    openai_api_key: SecretStr | None = Field(None, validation_alias="OPENAI_API_KEY")
    openai_base_url: str | None = Field(None, validation_alias="OPENAI_BASE_URL")
    llm_model: str = Field("gpt-4o", validation_alias="NIK_LLM_MODEL")
    cohere_api_key: SecretStr | None = Field(None, validation_alias="COHERE_API_KEY")
    cohere_base_url: str | None = Field(None, validation_alias="COHERE_BASE_URL")
    rerank_model: str = Field("rerank-v3.5", validation_alias="NIK_RERANK_MODEL")
    log_level: str = Field("WARNING", validation_alias="NIK_LOG_LEVEL")
    admins: Annotated[frozenset[str], NoDecode] = Field(frozenset(), validation_alias="NIK_ADMINS")
    database_url: str | None = Field(None, validation_alias="DATABASE_URL")
    history_window: int = Field(6, ge=1, le=100, validation_alias="NIK_HISTORY_WINDOW")
    pause_hours: float = Field(24.0, gt=0, validation_alias="NIK_PAUSE_HOURS")
    env: str = Field("production", validation_alias="NIK_ENV")  # "development" allows unauthenticated Teams
    host: str = Field("0.0.0.0", validation_alias="NIK_HOST")
    port: int = Field(8080, ge=0, le=65535, validation_alias="NIK_PORT")
    turn_lease_seconds: float = Field(300.0, gt=0, validation_alias="NIK_TURN_LEASE_SECONDS")
    rate_limit: int = Field(10, ge=0, validation_alias="NIK_RATE_LIMIT")  # requests per user per minute; 0: off
    allowed_chats: Annotated[frozenset[str], NoDecode] = Field(frozenset(), validation_alias="NIK_ALLOWED_CHATS")
    allowed_users: Annotated[frozenset[str], NoDecode] = Field(frozenset(), validation_alias="NIK_ALLOWED_USERS")
    # Telegram
    telegram_bot_token: SecretStr | None = Field(None, validation_alias="TELEGRAM_BOT_TOKEN")
    telegram_webhook_url: str | None = Field(None, validation_alias="TELEGRAM_WEBHOOK_URL")
    telegram_webhook_secret: SecretStr | None = Field(None, validation_alias="TELEGRAM_WEBHOOK_SECRET")
    telegram_api_base_url: str = Field("https://api.telegram.org", validation_alias="TELEGRAM_API_BASE_URL")
    # Microsoft Teams (Bot Framework)
    teams_app_id: str | None = Field(None, validation_alias="TEAMS_APP_ID")
    teams_app_password: SecretStr | None = Field(None, validation_alias="TEAMS_APP_PASSWORD")
    teams_app_tenant_id: str | None = Field(None, validation_alias="TEAMS_APP_TENANT_ID")
    teams_app_type: str = Field("MultiTenant", validation_alias="TEAMS_APP_TYPE")
    teams_enabled: bool = Field(False, validation_alias="NIK_TEAMS")  # serve /api/messages without an app id (dev)
    teams_trusted_hosts: Annotated[frozenset[str], NoDecode] = Field(
        frozenset(), validation_alias="NIK_TEAMS_TRUSTED_HOSTS"
    )  # extra hosts the bot's token may be sent to for image downloads
    # Photos
    max_image_bytes: int = Field(20 * 1024 * 1024, gt=0, validation_alias="NIK_MAX_IMAGE_BYTES")
    photo_retention_days: float = Field(30.0, ge=0, validation_alias="NIK_PHOTO_RETENTION_DAYS")
    # Manuals uploaded from the chat by an admin
    max_manual_bytes: int = Field(50 * 1024 * 1024, gt=0, validation_alias="NIK_MAX_MANUAL_BYTES")
    # Voice notes: an OpenAI-compatible /audio/transcriptions endpoint (see ``voice_configured``)
    stt_model: str | None = Field(None, validation_alias="NIK_STT_MODEL")  # e.g. whisper-1
    stt_base_url: str | None = Field(None, validation_alias="NIK_STT_BASE_URL")  # a local speech server
    stt_api_key: SecretStr | None = Field(None, validation_alias="NIK_STT_API_KEY")  # for NIK_STT_BASE_URL only
    stt_language: str = Field("de", validation_alias="NIK_STT_LANGUAGE")  # "" lets the server detect it
    stt_seconds: float = Field(30.0, gt=0, le=300, validation_alias="NIK_STT_SECONDS")  # per voice note, retries too
    max_voice_seconds: float = Field(120.0, gt=0, validation_alias="NIK_MAX_VOICE_SECONDS")
    max_voice_bytes: int = Field(10 * 1024 * 1024, gt=0, le=25 * 1024 * 1024, validation_alias="NIK_MAX_VOICE_BYTES")
    # /pdf: manual pages as a file; Telegram bots may upload 50 MB
    pdf_max_bytes: int = Field(20 * 1024 * 1024, gt=0, le=50 * 1024 * 1024, validation_alias="NIK_PDF_MAX_BYTES")
    # Files for Teams channels: expiring signed links served by ``nik serve`` under this public base URL
    public_url: str | None = Field(None, validation_alias="NIK_PUBLIC_URL")  # e.g. https://nik.example.com
    file_link_secret: SecretStr | None = Field(None, validation_alias="NIK_FILE_LINK_SECRET")  # else derived
    file_link_hours: float = Field(1.0, gt=0, le=168, validation_alias="NIK_FILE_LINK_HOURS")
    # Operations
    reindex_cron: str = Field("0 3 * * *", validation_alias="NIK_REINDEX_CRON")  # "" or "off": no scheduled sync
    admin_chat: str | None = Field(None, validation_alias="NIK_ADMIN_CHAT")  # "telegram:<chat_id>" gets sync reports
    log_format: str = Field("text", validation_alias="NIK_LOG_FORMAT")
    # Support hand-off: "telegram:<chat id>" or "teams:<conversation id>" of the support team's group/channel
    support_chat: str | None = Field(None, validation_alias="NIK_SUPPORT_CHAT")

    @field_validator("embedder")
    @classmethod
    def _known_embedder(cls, value: str) -> str:
        if value in ("e5", "use") or (value.startswith("openai:") and len(value) > 7):
            return value
        raise ValueError("must be 'e5', 'use' or 'openai:<model>'")

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return level

    @field_validator("allowed_chats", "allowed_users", "teams_trusted_hosts", mode="before")
    @classmethod
    def _plain_list(cls, value: object) -> frozenset[str]:
        """``a, b`` → {"a", "b"}; entries are compared as given (``telegram:-100123`` or a host name)."""
        return frozenset(_entries(value, "a comma-separated list"))

    @field_validator("log_format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        if value.lower() not in ("text", "json"):
            raise ValueError("must be 'text' or 'json'")
        return value.lower()

    @field_validator("support_chat")
    @classmethod
    def _support_target(cls, value: str | None) -> str | None:
        """``telegram:-100123`` or ``teams:19:…@thread.tacv2`` (a Teams thread suffix is dropped)."""
        if value is None or not value.strip():
            return None
        platform, sep, chat_id = value.strip().partition(":")
        chat_id = chat_id.strip().partition(";messageid=")[0]
        if not sep or platform not in ("telegram", "teams") or not chat_id:
            raise ValueError("must be 'telegram:<chat id>' or 'teams:<conversation id>'")
        return f"{platform}:{chat_id}"

    @field_validator("admins", mode="before")
    @classmethod
    def _admin_list(cls, value: object) -> frozenset[str]:
        """``telegram:123,teams:29:abc`` → {"telegram:123", "teams:29:abc"} (the id may hold colons)."""
        admins = set()
        for entry in _entries(value, "a comma-separated list of 'platform:user_id'"):
            platform, sep, user_id = entry.partition(":")
            if not sep or platform not in ADMIN_PLATFORMS or not user_id.strip():
                raise ValueError(f"entries are 'platform:user_id' with platform {'/'.join(ADMIN_PLATFORMS)}")
            admins.add(f"{platform}:{user_id.strip()}")
        return frozenset(admins)

    def is_admin(self, platform: str, user_id: str) -> bool:
        return f"{platform}:{user_id}" in self.admins

    @property
    def index_uri(self) -> str:
        return self.lancedb_uri or str(self.data_dir / "lancedb")

    @property
    def telegram_configured(self) -> bool:
        return self.telegram_bot_token is not None

    @property
    def teams_configured(self) -> bool:
        return bool(self.teams_app_id) or self.teams_enabled

    @property
    def llm_configured(self) -> bool:
        return self.openai_api_key is not None or self.openai_base_url is not None

    @property
    def voice_configured(self) -> bool:
        """Voice notes are transcribed: by a speech server of their own (``NIK_STT_BASE_URL``,
        the model defaults to whisper-1) or by the LLM's endpoint once ``NIK_STT_MODEL`` names a model."""
        return bool(self.stt_base_url) or (self.llm_configured and bool(self.stt_model))


def _entries(value: object, expected: str) -> list[str]:
    """The non-empty, stripped entries of a comma-separated string (or of a list)."""
    if isinstance(value, str):
        entries = value.split(",")
    elif isinstance(value, list | tuple | set | frozenset):
        entries = [str(e) for e in value]
    else:
        raise ValueError(expected)
    return [e.strip() for e in entries if e.strip()]


def load_settings() -> Settings:
    """Read the settings, or raise ``ConfigError`` naming the offending variable."""
    try:
        return Settings()
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '?'}: {e['msg']}" for e in err.errors(include_input=False)
        )
        raise ConfigError(f"Invalid configuration: {problems}") from None
