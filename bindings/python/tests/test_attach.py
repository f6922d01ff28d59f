# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The Lepton Authors.
"""client.attach(lease_id) and lease.detach(): a second handle on a lease of the same tenant."""
from __future__ import annotations

import array

import pytest

import lepton
from conftest import Cluster, warm_up

N = 1000


def broker_state(cluster: Cluster, lease_id: str) -> str:
    return cluster.get(f"/v1/leases/{lease_id}")["lease"]["state"]


def test_attach_runs_jobs_and_detach_leaves_it_running(cluster: Cluster, client: lepton.Client,
                                                       saxpy_ptx: bytes) -> None:
    with client.lease(gpus=1, ttl=600) as owner:
        with cluster.client() as other:
            with other.attach(owner.id) as lease:
                assert lease.attached and not owner.attached
                assert "attached" in repr(lease)
                info = lease.info()
                assert info.id == owner.id
                assert info.state is lepton.LeaseState.ACTIVE
                assert info.node == owner.info().node
                warm_up(lease)
                # a job through the attached handle, checked against the host
                xs = array.array("f", [float(i) for i in range(N)])
                ys = array.array("f", [float(3 * i + 1) for i in range(N)])
                mod = lease.load_module(saxpy_ptx)
                with lease.alloc(N * 4) as x, lease.alloc(N * 4) as y:
                    x.write(xs)
                    y.write(ys)
                    lease.launch(mod, "saxpy", grid=((N + 255) // 256,), block=(256,),
                                 args=[N, 2.0, x, y]).wait()
                    out = array.array("f", bytes(N * 4))
                    y.read(out)
                for i in range(N):
                    assert out[i] == pytest.approx(2.0 * xs[i] + ys[i], rel=1e-6), f"element {i}"
            # the context manager detached: the handle is gone, the lease is not
            assert lease.closed
            with pytest.raises(lepton.Expired):
                lease.info()
            assert broker_state(cluster, owner.id) == "active"
            assert owner.info().state is lepton.LeaseState.ACTIVE
            lease.detach()  # idempotent
        # closing the attaching client did not close the lease either
        assert broker_state(cluster, owner.id) == "active"
        lease_id = owner.id
    assert broker_state(cluster, lease_id) == "closed"


def test_close_through_attached_handle(cluster: Cluster, client: lepton.Client) -> None:
    owner = client.lease(gpus=1, ttl=600)
    with cluster.client() as other:
        lease = other.attach(owner.id)
        lease.close()  # ends the lease itself
        assert lease.closed
    assert broker_state(cluster, owner.id) == "closed"
    assert owner.info().state is lepton.LeaseState.CLOSED
    owner.close()  # closed by its holder already: no error


def test_client_close_detaches_attached(cluster: Cluster, client: lepton.Client) -> None:
    with client.lease(gpus=1, ttl=600) as owner:
        other = cluster.client()
        lease = other.attach(owner.id)
        other.close()
        assert lease.closed
        assert broker_state(cluster, owner.id) == "active"


def test_detach_an_opened_lease(cluster: Cluster, client: lepton.Client) -> None:
    lease = client.lease(gpus=1, ttl=600)
    lease_id = lease.id
    lease.detach()
    assert lease.closed
    assert broker_state(cluster, lease_id) == "active"
    with client.attach(lease_id) as again:
        again.close()
    assert broker_state(cluster, lease_id) == "closed"


def test_attach_errors(cluster: Cluster, client: lepton.Client) -> None:
    with pytest.raises(lepton.NotFound) as e:
        client.attach("ls_000000000000")
    assert e.value.name == "LEPTON_ENOTFOUND" and "ls_000000000000" in e.value.message
    with pytest.raises(lepton.InvalidArgument):
        client.attach("not/an/id")
    with pytest.raises(lepton.InvalidArgument):
        client.attach(42)  # type: ignore[arg-type]
    lease = client.lease(gpus=1, ttl=600)
    lease_id = lease.id
    with cluster.client(token="not-a-token") as bad:
        with pytest.raises(lepton.AuthError):
            bad.attach(lease_id)
    lease.close()
    with pytest.raises(lepton.Expired) as e:
        client.attach(lease_id)
    assert "closed" in e.value.message


def test_leases_lists_newest_first_and_finds_a_lease_again(cluster: Cluster, client: lepton.Client) -> None:
    before = {info.id for info in client.leases()}
    ended = client.lease(gpus=1, ttl=600)
    ended_id = ended.id
    ended.close()
    with client.lease(gpus=1, ttl=600) as running:
        every = client.leases()
        new = [info for info in every if info.id not in before]
        assert [info.id for info in new] == [running.id, ended_id]  # newest first
        assert new[0].state is lepton.LeaseState.ACTIVE
        assert new[1].state is lepton.LeaseState.CLOSED
        assert new[0].gpu_count == 1 and new[0].node == running.info().node
        active = client.leases(lepton.LeaseState.ACTIVE)
        assert running.id in [info.id for info in active]
        assert all(info.state is lepton.LeaseState.ACTIVE for info in active)
        assert ended_id not in [info.id for info in active]
        # found again by another client of the tenant, and attached
        with cluster.client() as other:
            found = [info for info in other.leases(lepton.LeaseState.ACTIVE) if info.id == running.id]
            assert len(found) == 1
            with other.attach(found[0].id) as again:
                assert again.info().id == running.id
    with pytest.raises(lepton.InvalidArgument):
        client.leases("active")  # type: ignore[arg-type]
