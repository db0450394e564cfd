"""Health checks: probes by protocol, health bodies, port owners, evidence from logs, diagnosis."""
