async def test_owner_creates_and_reads_an_agent(api):
    alice = await api.as_user("alice")
    created = await alice.post("/api/agents", json={"name": "Helper"})
    assert created.status == 201
    got = await alice.get(created.headers["Location"])
    assert got.json["data"]["name"] == "Helper"
