"""The engine: pixels, networks and methods, knowing neither gRPC, GIMP nor jobs."""
