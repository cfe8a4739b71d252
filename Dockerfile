# syntax=docker/dockerfile:1
# tollgate: an authenticating reverse proxy for private Scaleway Serverless Containers.
#
#   docker build -t tollgate .
#   docker run --rm -p 8443:8443 -v "$PWD/tollgate.yaml:/etc/tollgate/tollgate.yaml:ro" tollgate
#
# The config is not part of the image: mount it at /etc/tollgate/tollgate.yaml (Kubernetes: a
# ConfigMap, see deploy/kubernetes/), or build a small image FROM this one that copies it in
# (Scaleway Serverless Containers, see deploy/scaleway.md). When the platform sets PORT, the plain
# listener binds it (`--port-from-env`; the config must say `httpOption: enabled`).
# Pin the base by digest in your own builds (node:26-slim@sha256:…) for reproducible images.
ARG NODE_IMAGE=node:26-slim

# ── build: compile TypeScript with the dev dependencies ─────────────────────────────────────────
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json tsconfig.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY src ./src
RUN npx tsc -p tsconfig.json

# ── runtime: production dependencies and the compiled output only ───────────────────────────────
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    TZ=UTC \
    TOLLGATE_HEALTHCHECK_URL=http://127.0.0.1:9100/healthz
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /src/dist/src ./dist/src
COPY bin ./bin
# The node image's unprivileged user (uid 1000). Nothing under /app is writable by it.
USER node
# 8080 plain (or $PORT), 8443 TLS, 9100 admin (/healthz /readyz /metrics; 9090-9091 are reserved on
# Scaleway). The ports are the config's: these match deploy/kubernetes/configmap.yaml.
EXPOSE 8080 8443 9100
# Liveness through the admin listener; set TOLLGATE_HEALTHCHECK_URL when the config's admin port differs.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.TOLLGATE_HEALTHCHECK_URL).then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1))"]
# SIGTERM drains (server.drainTimeout) then exits 0; SIGHUP reloads the config.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "/app/bin/tollgate.js"]
CMD ["serve", "--config", "/etc/tollgate/tollgate.yaml", "--port-from-env"]
