from tests.trt_fixtures import TEST_DEVICE, builds, known_device  # noqa: F401 (fixtures: the injected device, the build counter)
