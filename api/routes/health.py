from __future__ import annotations

from fastapi import APIRouter

from api.deps import TemporalClientDep

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness, and whether Temporal answers")
async def health(temporal: TemporalClientDep) -> dict[str, str]:
    temporal_ok = await temporal.service_client.check_health()
    return {"status": "ok" if temporal_ok else "degraded", "temporal": "ok" if temporal_ok else "down"}
