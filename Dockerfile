# Build with dev dependencies, run with production ones only, as a non-root user.
FROM node:24-bookworm-slim AS build
WORKDIR /app
# better-sqlite3 compiles from source when no prebuilt binary matches.
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
# The image has no .git: pass the commit for mailgateway_build_info (--build-arg BUILD_COMMIT=$(git rev-parse HEAD)).
ARG BUILD_COMMIT
RUN npm run build && npm prune --omit=dev

FROM node:24-bookworm-slim
ENV NODE_ENV=production GRPC_HOST=0.0.0.0 METRICS_HOST=0.0.0.0
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/proto ./proto
# The image's own user (uid 1000): the Kubernetes manifests run it with runAsNonRoot.
USER node
# gRPC (with grpc.health.v1 for probes), then /metrics, /livez and /readyz.
EXPOSE 50051 9464
# For Docker and compose; Kubernetes uses its own gRPC probes.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.METRICS_PORT || 9464) + '/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "dist/apps/gateway/apps/gateway/src/main.js"]
CMD ["serve"]
