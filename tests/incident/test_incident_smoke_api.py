from support import bearer, serving

from services.incident.bootstrap import build_app
from incident_factories import incident_body


async def test_smoke(settings, operator_id):
    app = build_app(settings)
    async with serving(app) as client:
        r = await client.post("/incidents", json=incident_body(), headers=bearer(settings, "operator", operator_id))
        print(r.status_code, r.json())
