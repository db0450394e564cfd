"""Platform adapters (sleep/wake sources, native event filters), each with a do-nothing fallback."""
