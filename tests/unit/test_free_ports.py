"""Ports for a stack's services: each handed out once, so two services never race for one."""

from __future__ import annotations

from emulators.process import free_port


def test_a_port_is_never_handed_out_twice_even_before_anything_binds_it():
    # A stack asks for a port per function and emulator before any of them binds; 500 random picks among
    # 12 000 ports repeat one almost surely unless the ports handed out are remembered.
    ports = [free_port() for _ in range(500)]
    assert len(set(ports)) == len(ports)
