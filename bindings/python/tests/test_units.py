# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The Lepton Authors.
"""One vocabulary with the command line: durations in seconds (wait=, timeout=), the same
validation (gpus=0 is an error, as `lepton lease open --gpus 0` is)."""
from __future__ import annotations

import time

import pytest

import lepton
from conftest import GPUS, Cluster


@pytest.mark.parametrize("call", ["lease", "quote"])
def test_zero_gpus_is_an_error(client: lepton.Client, cluster: Cluster, call: str) -> None:
    with pytest.raises(lepton.InvalidArgument) as e:
        getattr(client, call)(gpus=0)
    assert "gpus" in e.value.message and "at least 1" in e.value.message
    # nothing was leased
    with cluster.client() as other:
        assert other.quote()[0].gpus_free == GPUS


def test_zero_ttl_is_an_error(client: lepton.Client) -> None:
    with pytest.raises(lepton.InvalidArgument) as e:
        client.lease(ttl=0)
    assert "ttl" in e.value.message


def test_wait_is_in_seconds(client: lepton.Client) -> None:
    t0 = time.monotonic()
    with pytest.raises(lepton.NoCapacity):
        client.lease(gpus=GPUS + 1, wait=0.6)
    # a request that can never fit is answered at once or after the wait; never after 600 s
    assert time.monotonic() - t0 < 30
    held = [client.lease() for _ in range(GPUS)]
    try:
        t0 = time.monotonic()
        with pytest.raises(lepton.NoCapacity):
            client.lease(wait=1.0)  # every GPU is held: waits its second, then refuses
        assert 0.8 <= time.monotonic() - t0 < 20
    finally:
        for lease in held:
            lease.close()


@pytest.mark.parametrize("kw", [{"wait": 1, "wait_ms": 1000}, {"wait": -1}, {"wait": "1"}])
def test_wait_validation(client: lepton.Client, kw: dict) -> None:
    with pytest.raises(lepton.InvalidArgument) as e:
        client.lease(**kw)
    assert "wait" in e.value.message


def test_client_timeout_in_seconds(cluster: Cluster) -> None:
    with cluster.client(timeout=5) as c:
        assert c.quote()[0].gpus_free == GPUS
    with pytest.raises(lepton.InvalidArgument):
        cluster.client(timeout=2, timeout_ms=2000)
    with pytest.raises(lepton.InvalidArgument):
        cluster.client(timeout=0)


def test_task_wait_timeout_in_seconds(lease: lepton.Lease) -> None:
    if True:
        buf = lease.alloc(16)
        task = lease.submit(lepton.Write(buf, bytes(range(16))))
        assert task.wait(timeout=30) is task
        with pytest.raises(lepton.InvalidArgument):
            task.wait(timeout=1, timeout_ms=1000)
