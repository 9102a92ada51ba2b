"""The end-to-end test harness: DNS server, SMTP sinks, TLS material, daemon runner."""
