"""The machines the planner knows, and devices to compile for them on this host.

A TPU slice is compiled for by the TPU compiler itself when libtpu is installed (the `tpu` extra; it
works on a CPU machine): `jax.experimental.topologies` gives the slice's devices, abstract, with no
TPU attached, and a mesh over them lowers and compiles the train step exactly as on the slice, so
`memory_analysis()` is the chip's own figure (MaxText's `train_compile` works this way). Without
libtpu, and for GPU machines, the step is compiled by XLA:CPU for as many fake CPU devices, whose
figures are only indicative (XLA:CPU computes bfloat16 in float32 and fuses differently).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os

import jax

from entigraph_jax.config import ConfigError

from .metrics import PEAK_FLOPS

GiB = 2**30
TPU_EXTRA = "pip install -e \".[tpu]\" (libtpu; it installs and compiles on a CPU machine too)"


@dataclasses.dataclass(frozen=True)
class Hardware:
    devices: int  # JAX devices (one per TPU v4/v5p chip: megacore)
    memory: float  # bytes of HBM per device, as the vendor lists it
    topology: str = ""  # a TPU slice: libtpu's topology name ("v5:2x2x1"); "" for GPU machines
    megacore: bool = False  # v4 and v5p: the chip's two cores act as one device
    kind: str = ""  # the device's name in metrics.PEAK_FLOPS

    @property
    def peak_flops(self) -> float:
        """bf16 dense FLOP/s of one device, from the vendor's spec."""
        return PEAK_FLOPS[self.kind]

    @property
    def is_tpu(self) -> bool:
        return bool(self.topology)


def _slice(topology: str, memory: float, kind: str, megacore: bool = False) -> Hardware:
    dims = [int(d) for d in topology.split(":")[1].split("x")]
    chips = dims[0] * dims[1] * (dims[2] if len(dims) > 2 else 1)
    return Hardware(chips, memory, topology, megacore, kind)


HARDWARE = {
    "v4-8": _slice("v4:2x2x1", 32 * GiB, "TPU v4", megacore=True),
    "v4-32": _slice("v4:2x2x4", 32 * GiB, "TPU v4", megacore=True),
    "v5e-4": _slice("v5e:2x2", 16 * GiB, "TPU v5e"),
    "v5e-8": _slice("v5e:2x4", 16 * GiB, "TPU v5e"),
    "v5e-32": _slice("v5e:4x8", 16 * GiB, "TPU v5e"),
    "v5p-8": _slice("v5:2x2x1", 95 * GiB, "TPU v5p", megacore=True),
    "v5p-32": _slice("v5:2x2x4", 95 * GiB, "TPU v5p", megacore=True),
    "v5p-128": _slice("v5:4x4x4", 95 * GiB, "TPU v5p", megacore=True),
    "v6e-8": _slice("v6e:2x4", 32 * GiB, "TPU v6e"),
    "v6e-32": _slice("v6e:4x8", 32 * GiB, "TPU v6e"),
    "8xA100-80GB": Hardware(8, 80 * GiB, kind="A100"),
    "8xH100": Hardware(8, 80 * GiB, kind="H100"),
    "1xH200": Hardware(1, 141e9, kind="H200"),
    "8xH200": Hardware(8, 141e9, kind="H200"),
}


def lookup(name: str) -> Hardware:
    if name not in HARDWARE:
        raise ConfigError(f"--hardware={name!r}; known: {', '.join(HARDWARE)}")
    return HARDWARE[name]


def has_tpu_compiler() -> bool:
    try:
        return importlib.util.find_spec("libtpu") is not None
    except ValueError:  # a module entry without a spec: not importable either
        return False


def tpu_devices(hardware: Hardware) -> list:
    """The slice's devices, abstract (compile, never run), from libtpu's topology description."""
    from jax.experimental import topologies

    # on a machine without TPUs libtpu looks for a TPU VM's metadata and says so on stderr; the
    # topology is given in full here, so tell it that it is alone (a real VM's own values win).
    # Compiling touches no TPU, so other processes may hold libtpu at the same time.
    os.environ.setdefault("TPU_ACCELERATOR_TYPE", "v5p-8")
    os.environ.setdefault("TPU_WORKER_HOSTNAMES", "localhost")
    os.environ.setdefault("ALLOW_MULTIPLE_LIBTPU_LOAD", "1")
    host = (2, 2, 1) if hardware.megacore or hardware.devices <= 4 else (2, 4, 1)
    desc = topologies.get_topology_desc(platform="tpu", topology_name=hardware.topology,
                                        chip_config_name="megacore" if hardware.megacore else "default",
                                        chips_per_host_bounds=host, num_slices=1)
    return list(desc.devices)


def use_fake_devices(count: int) -> None:
    """Plan on `count` CPU devices; must run before anything asks JAX for its devices."""
    try:
        jax.config.update("jax_platforms", "cpu")
        jax.config.update("jax_num_cpu_devices", count)
    except RuntimeError as e:
        raise ConfigError(f"--hardware: JAX's devices are already set up ({e})") from e


def devices_for(hardware: Hardware) -> tuple[list | None, bool]:
    """(devices to compile for, whether the compiler is the hardware's own). None: JAX's devices,
    which are then `hardware.devices` fake CPU devices."""
    if hardware.is_tpu and has_tpu_compiler():
        jax.config.update("jax_platforms", "cpu")  # the host's own backend; the TPU is only compiled for
        return tpu_devices(hardware), True
    use_fake_devices(hardware.devices)
    return None, False
