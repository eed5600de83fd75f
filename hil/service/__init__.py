"""The controller as a service: ZeroMQ server and client, the telemetry frame codec, CURVE authentication."""
