from tests.trt_fixtures import TEST_DEVICE, builds, known_device, machine  # noqa: F401 (fixtures: the injected device, the build counter, the GPU stand-ins)
