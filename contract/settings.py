"""The settings both services share: where Redis is, and how long what they write lives."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class SharedSettings(BaseSettings):
    """The base of `gateway.settings.Settings` and `worker.settings.WorkerSettings`.

    Every field is read from the environment variable of its name (upper case).
    """

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    redis_url: str | None = Field(default=None, description="Overrides REDIS_HOST/PORT/PASSWORD")
    redis_host: str = "127.0.0.1"
    redis_port: int = 6379
    redis_password: str | None = None
    redis_db: int = 0
    # Every Redis call is bounded: an outage turns into an error, never a hung call.
    redis_timeout_seconds: float = Field(default=2.0, gt=0)
    cache_ttl_seconds: int = Field(default=3600, gt=0)
    log_level: str = "INFO"

    @property
    def redis_dsn(self) -> str:
        """REDIS_URL if set, else the URL REDIS_HOST/PORT/PASSWORD/DB make."""
        if self.redis_url:
            return self.redis_url
        auth = f":{self.redis_password}@" if self.redis_password else ""
        return f"redis://{auth}{self.redis_host}:{self.redis_port}/{self.redis_db}"

    @property
    def redis_host_port(self) -> str:
        """Where Redis is, for messages: never the password."""
        return self.redis_dsn.rsplit("@", 1)[-1].removeprefix("redis://")
