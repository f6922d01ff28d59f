# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The Lepton Authors.
"""Quotes, leases, their info and closing."""
from __future__ import annotations

import time

import pytest

import lepton
from conftest import GPUS, PRICE, Cluster


def test_version_matches_library() -> None:
    assert lepton.__version__ == "1.0.0"
    assert lepton.library_version() == lepton.__version__
    assert lepton.status_name(-5) == "LEPTON_ENOCAPACITY"


def test_quote(client: lepton.Client, cluster: Cluster) -> None:
    offers = client.quote(gpus=1)
    assert len(offers) == 1
    o = offers[0]
    assert isinstance(o, lepton.Offer)
    assert o.node == cluster.node
    assert "emulated" in o.gpu_model
    assert o.gpu_memory == 16 << 30
    assert o.gpus_free == GPUS
    assert o.price_per_gpu_hour == pytest.approx(PRICE)
    assert client.quote(gpus=1, gpu_model="no-such-model") == []


def test_lease_info_and_context_manager_closes(cluster: Cluster, client: lepton.Client) -> None:
    with client.lease(gpus=1, ttl=600, max_cost=5.0, labels={"suite": "python"}) as lease:
        info = lease.info()
        assert isinstance(info, lepton.LeaseInfo)
        assert info.id == lease.id and info.id
        assert info.state is lepton.LeaseState.ACTIVE
        assert str(info.state) == "active"
        assert info.node == cluster.node
        assert info.gpu_count == 1
        assert info.gpu_memory == 16 << 30
        assert info.price_per_gpu_hour == pytest.approx(PRICE)
        assert 0 <= info.cost < 1.0
        assert info.expires_at - info.started_at == pytest.approx(600, abs=2)
        lease.extend(60)
        assert lease.info().expires_at == pytest.approx(info.expires_at + 60, abs=1)
        # A second client sees one GPU fewer free while the lease is held.
        with cluster.client() as other:
            assert other.quote()[0].gpus_free == GPUS - 1
        lease_id = lease.id
    assert lease.closed
    with pytest.raises(lepton.Expired):
        lease.info()
    # The broker, asked directly, has the lease closed; its GPU is free again.
    assert cluster.get(f"/v1/leases/{lease_id}")["lease"]["state"] == "closed"
    with cluster.client() as other:
        assert other.quote()[0].gpus_free == GPUS


def test_client_close_closes_its_leases(cluster: Cluster) -> None:
    c = cluster.client()
    lease = c.lease()
    lease_id = lease.id
    c.close()
    assert lease.closed
    assert cluster.get(f"/v1/leases/{lease_id}")["lease"]["state"] == "closed"
    c.close()  # idempotent


def test_lease_close_is_idempotent(client: lepton.Client) -> None:
    lease = client.lease()
    lease.close()
    lease.close()


def test_no_capacity(client: lepton.Client) -> None:
    with pytest.raises(lepton.NoCapacity) as e:
        client.lease(gpus=99)
    err = e.value
    assert isinstance(err, lepton.Error)
    assert err.code == -5 and err.name == "LEPTON_ENOCAPACITY"
    assert err.message and "99" in err.message


def test_over_budget(client: lepton.Client) -> None:
    with pytest.raises(lepton.OverBudget) as e:
        client.lease(max_price=0.01)
    assert e.value.code == -6 and e.value.name == "LEPTON_EBUDGET"
    assert e.value.message


def test_bad_token(cluster: Cluster) -> None:
    with cluster.client(token="not-a-token") as c:
        with pytest.raises(lepton.AuthError) as e:
            c.quote()
    assert e.value.code == -4 and e.value.name == "LEPTON_EAUTH"


@pytest.mark.parametrize("kw", [{"gpus": -1}, {"ttl": -5}, {"max_price": -1.0}, {"gpus": "two"}])
def test_invalid_request(client: lepton.Client, kw: dict) -> None:
    with pytest.raises(lepton.InvalidArgument) as e:
        client.lease(**kw)
    assert e.value.code == -1 and e.value.name == "LEPTON_EINVAL"
    assert list(kw)[0] in e.value.message.replace("max_price", "max_price")


def test_invalid_option_from_the_library() -> None:
    with pytest.raises(lepton.InvalidArgument) as e:
        lepton.Client(endpoint="ftp://example.invalid")
    assert e.value.message  # lepton_last_error() text


def test_network_error() -> None:
    from conftest import _free_port
    with lepton.Client(endpoint=f"http://127.0.0.1:{_free_port()}", token="x", timeout_ms=2000) as c:
        with pytest.raises(lepton.NetworkError):
            c.quote()


def test_log_callback(cluster: Cluster) -> None:
    lines: list = []
    with cluster.client(log=lambda level, msg: lines.append((level, msg))) as c:
        with c.lease(ttl=60):
            pass
    assert all(isinstance(l, int) and isinstance(m, str) for l, m in lines)


# Was a liblepton bug (the previous lease's worker still exiting on the port made the first request
# fail with LEPTON_ENODELOST); fixed in the client, so this is a plain regression test now.
def test_first_request_after_lease_churn(cluster: Cluster, saxpy_ptx: bytes) -> None:
    with cluster.client() as c:
        for _ in range(40):
            with c.lease(ttl=60) as lease:
                lease.load_module(saxpy_ptx)


def test_ttl_expiry(client: lepton.Client) -> None:
    lease = client.lease(ttl=1)
    deadline = time.monotonic() + 15
    while lease.info().state is lepton.LeaseState.ACTIVE and time.monotonic() < deadline:
        time.sleep(0.2)
    info = lease.info()
    assert info.state is lepton.LeaseState.EXPIRED
    assert info.cost > 0
    with pytest.raises(lepton.Expired):
        lease.extend(60)
    with pytest.raises(lepton.Expired, match="ended"):
        lease.close()
    assert lease.closed
    # as a context manager, an already-ended lease exits quietly
    with client.lease(ttl=1) as l2:
        while l2.info().state is lepton.LeaseState.ACTIVE and time.monotonic() < deadline + 15:
            time.sleep(0.2)


def test_keepalive(cluster: Cluster, client: lepton.Client) -> None:
    """keepalive=2: renewed by liblepton while open (alive after 3 x keepalive); a lease without it
    has none; a bad value is refused before the wire."""
    with client.lease(ttl=600, keepalive=2) as lease:
        first = cluster.get(f"/v1/leases/{lease.id}")["lease"]
        assert first["keepalive_seconds"] == 2
        time.sleep(6)
        assert lease.info().state is lepton.LeaseState.ACTIVE
        now = cluster.get(f"/v1/leases/{lease.id}")["lease"]
        assert now["state"] == "active" and now["renewed_at"] >= first["renewed_at"] + 4
    assert cluster.get(f"/v1/leases/{lease.id}")["lease"]["state"] == "closed"
    with client.lease(ttl=600) as plain:
        assert cluster.get(f"/v1/leases/{plain.id}")["lease"]["keepalive_seconds"] is None
    with pytest.raises(lepton.InvalidArgument, match="keepalive"):
        client.lease(keepalive=86401)
    with pytest.raises(lepton.InvalidArgument, match="keepalive"):
        client.lease(keepalive=-1)


def test_data_plane_after_expiry_is_expired(cluster: Cluster) -> None:
    with cluster.client(timeout_ms=3000) as c:
        lease = c.lease(ttl=1)
        deadline = time.monotonic() + 15
        while lease.info().state is lepton.LeaseState.ACTIVE and time.monotonic() < deadline:
            time.sleep(0.2)
        with pytest.raises(lepton.Expired):
            lease.alloc(16)
