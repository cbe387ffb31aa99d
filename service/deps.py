"""What route handlers receive: the service state built in the lifespan, as a typed dependency."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from twin.config import TwinConfig
from twin.service.backends import Backend
from twin.service.memory import MemoryGateway
from twin.service.request_log import RequestLog, RequestRecord
from twin.service.twin import Twin


@dataclass
class ServiceState:
    config: TwinConfig
    backend: Backend
    memory: MemoryGateway
    twin: Twin
    log: RequestLog | None
    auth_required: bool

    def record(self, rec: RequestRecord) -> None:
        if self.log is not None:
            self.log.write(rec)


def get_state(request: Request) -> ServiceState:
    return request.app.state.twin


State = Annotated[ServiceState, Depends(get_state)]
