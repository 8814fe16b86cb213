"""Configuration: read once at start-up from the environment and ``.env``.

Every setting has the environment variable's name as its alias; an invalid value
fails at start with that name. Secrets are ``SecretStr`` and never printed.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.errors import ConfigError

SAMPLE_MANUALS = Path(__file__).resolve().parent.parent / "knowledge" / "sample" / "manuals"


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

    @property
    def index_uri(self) -> str:
        return self.lancedb_uri or str(self.data_dir / "lancedb")

    @property
    def llm_configured(self) -> bool:
        return self.openai_api_key is not None or self.openai_base_url is not None


def load_settings() -> Settings:
    """Read the settings, or raise ``ConfigError`` naming the offending variable."""
    try:
        return Settings()
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '?'}: {e['msg']}" for e in err.errors(include_input=False)
        )
        raise ConfigError(f"Invalid configuration: {problems}") from None
