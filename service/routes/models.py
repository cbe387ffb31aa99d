"""GET /v1/models: the model ids this twin answers to (one per mode)."""

from __future__ import annotations

from fastapi import APIRouter

from twin.service.deps import State

router = APIRouter()
CREATED = 1_700_000_000  # fixed: clients only display it


def model_card(model_id: str, mode: str) -> dict:
    return {"id": model_id, "object": "model", "created": CREATED, "owned_by": "twin", "twin_mode": mode}


@router.get("/v1/models")
def list_models(state: State) -> dict:
    return {"object": "list", "data": [model_card(m, mode) for m, mode in state.twin.models().items()]}


@router.get("/v1/models/{model_id}")
def get_model(model_id: str, state: State) -> dict:
    return model_card(model_id, state.twin.mode_of(model_id))
