"""Settings of the incident service (environment, prefix ``SMGUARD_``)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class IncidentSettings(BaseSettings):
    """Report deadlines (the utility's setting) and how often they are checked."""

    model_config = SettingsConfigDict(env_prefix="SMGUARD_", extra="ignore")

    initial_report_deadline_hours: float = Field(default=24.0, gt=0)
    cause_report_deadline_hours: float = Field(default=24.0 * 14, gt=0)
    deadline_check_seconds: float = Field(default=60.0, gt=0)

    def deadlines(self) -> dict[str, timedelta]:
        """Per report part, how long after detection it is due."""
        return {
            "initial": timedelta(hours=self.initial_report_deadline_hours),
            "cause": timedelta(hours=self.cause_report_deadline_hours),
        }
