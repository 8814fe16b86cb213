"""bot.config: settings from the environment and ``.env``, refused with the variable's name."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.config import SAMPLE_MANUALS, load_settings
from bot.errors import ConfigError
from helpers import SAMPLE_NAME
from knowledge.embedder import make_embedder


def test_defaults(clean_env: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert settings.embedder == "e5"
    assert settings.data_dir == Path("data")
    assert settings.index_uri == str(Path("data") / "lancedb")
    assert settings.manuals_dir == SAMPLE_MANUALS
    assert (settings.manuals_dir / SAMPLE_NAME).is_file()  # works out of the box on the sample
    assert settings.log_level == "WARNING"
    assert settings.openai_api_key is None and settings.cohere_api_key is None
    assert settings.llm_configured is False


def test_environment_overrides(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env.setenv("NIK_DATA_DIR", str(tmp_path / "daten"))
    clean_env.setenv("NIK_MANUALS_DIR", str(tmp_path / "handbuecher"))
    clean_env.setenv("NIK_EMBEDDER", "openai:bge-m3")
    clean_env.setenv("NIK_LOG_LEVEL", "debug")
    settings = load_settings()
    assert settings.data_dir == tmp_path / "daten"
    assert settings.index_uri == str(tmp_path / "daten" / "lancedb")
    assert settings.manuals_dir == tmp_path / "handbuecher"
    assert settings.embedder == "openai:bge-m3"
    assert settings.log_level == "DEBUG"


def test_lancedb_uri_overrides_the_data_dir(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("NIK_LANCEDB_URI", "s3://nik-bucket/index")
    assert load_settings().index_uri == "s3://nik-bucket/index"


def test_dotenv_file_is_read_and_environment_wins(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("NIK_EMBEDDER=use\nNIK_LOG_LEVEL=error\n", encoding="utf-8")
    settings = load_settings()
    assert (settings.embedder, settings.log_level) == ("use", "ERROR")
    clean_env.setenv("NIK_EMBEDDER", "e5")
    assert load_settings().embedder == "e5"


@pytest.mark.parametrize("value", ["bogus", "openai:", "E 5", ""])
def test_invalid_embedder_names_the_variable(clean_env: pytest.MonkeyPatch, value: str) -> None:
    clean_env.setenv("NIK_EMBEDDER", value)
    with pytest.raises(ConfigError, match="NIK_EMBEDDER"):
        load_settings()


def test_all_invalid_variables_are_named_at_once(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("NIK_EMBEDDER", "bogus")
    clean_env.setenv("NIK_LOG_LEVEL", "laut")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert "NIK_EMBEDDER" in str(err.value) and "NIK_LOG_LEVEL" in str(err.value)
    assert err.value.__cause__ is None  # no pydantic traceback for the operator


def test_secrets_are_never_shown(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("OPENAI_API_KEY", "sk-geheim-4711")
    clean_env.setenv("COHERE_API_KEY", "co-geheim-0815")
    settings = load_settings()
    assert settings.llm_configured is True
    assert settings.openai_api_key is not None
    assert settings.openai_api_key.get_secret_value() == "sk-geheim-4711"
    for shown in (repr(settings), str(settings), settings.model_dump_json()):
        assert "sk-geheim-4711" not in shown and "co-geheim-0815" not in shown


def test_settings_are_frozen(clean_env: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    with pytest.raises(ValidationError):
        settings.embedder = "use"  # type: ignore[misc]


def test_make_embedder_knows_the_accepted_names() -> None:
    with pytest.raises(ValueError, match="unknown embedder"):
        make_embedder("bogus")
    assert make_embedder("openai:bge-m3", api_key="x", base_url="http://127.0.0.1:9").name == "openai:bge-m3"
