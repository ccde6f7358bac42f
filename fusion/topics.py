"""MQTT topic names, built from the configurable root prefix (default ``airspace``).

Every topic of the protocol is made here, so that docs/protocol.md and the code name
the same strings.
"""

from __future__ import annotations

from dataclasses import dataclass

VERSION = "v1"


@dataclass(frozen=True)
class Topics:
    root: str = "airspace"

    @property
    def base(self) -> str:
        return f"{self.root}/{VERSION}"

    @property
    def reports_filter(self) -> str:
        """Subscription filter for every feeder's reports."""
        return f"{self.base}/reports/+"

    def reports(self, feeder: str) -> str:
        return f"{self.base}/reports/{feeder}"

    def feeder_of(self, topic: str) -> str | None:
        """The feeder id of a reports topic, or None if the topic is not one."""
        prefix = f"{self.base}/reports/"
        if not topic.startswith(prefix):
            return None
        feeder = topic[len(prefix) :]
        return feeder if feeder and "/" not in feeder else None

    @property
    def tracks(self) -> str:
        return f"{self.base}/tracks"

    @property
    def alert_events(self) -> str:
        return f"{self.base}/alerts/events"

    def alert_active(self, alert_id: str) -> str:
        return f"{self.base}/alerts/active/{alert_id}"

    @property
    def alert_active_filter(self) -> str:
        return f"{self.base}/alerts/active/+"

    def status(self, service: str) -> str:
        return f"{self.base}/status/{service}"

    def deadletter(self, feeder: str) -> str:
        return f"{self.base}/deadletter/{feeder}"

    @property
    def deadletter_filter(self) -> str:
        return f"{self.base}/deadletter/+"
