# One image for the API, the Temporal worker and the realtime worker; the command picks the process.
FROM python:3.11-slim-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends espeak-ng libssl3 libasound2 libuuid1 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY switchboard switchboard
COPY workflows workflows
COPY activities activities
COPY workers workers
COPY agents agents
COPY api api
COPY realtime realtime
COPY emulators emulators
COPY bench bench
RUN pip install --no-cache-dir .
USER 10001
