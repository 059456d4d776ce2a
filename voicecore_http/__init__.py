"""voicecore_http: the FastAPI adapter (standalone service, or a router a host mounts)."""
